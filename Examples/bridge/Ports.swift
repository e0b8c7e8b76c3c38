// How many ports the bridge has: raw network devices port0, port1, ... A Solo5 image's
// devices are fixed when it is built (its manifest), so a bridge of more ports is built with
// more: change the number here (as a MirageOS unikernel's config.ml would say it), build,
// and attach each with --net:portN=TAP.

let portCount = 2
