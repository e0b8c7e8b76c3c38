// The files `sirocco build` compiles into an image from the application's Resources
// directory: a ustar archive of them the tool assembles into the image (resources.S in the
// build directory, the archive included by `.incbin`), found through a weak symbol, so that
// an image or a test binary built without one links and has none.
//
// `sirocco_resources`: two little-endian 8-byte fields, the archive's offset from the
// symbol (so that the table needs no relocation in a position-independent executable) and
// its length in bytes (a whole number of 512-byte blocks).

#ifndef CSIROCCO_RESOURCES_H
#define CSIROCCO_RESOURCES_H

#include <stdint.h>

/// The archive compiled into the image: its first byte and its length (0 without one).
void sirocco_resource_archive(const uint8_t **bytes, uint64_t *length);

#endif
