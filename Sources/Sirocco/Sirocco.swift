// What an application imports: the device interfaces, the network core, the stores, the wire
// formats, the packet filter language and the runtime, in one module.

@_exported import SiroccoDevices
@_exported import SiroccoDNS
@_exported import SiroccoFilter
@_exported import SiroccoHTTP
@_exported import SiroccoNet
@_exported import SiroccoRuntime
@_exported import SiroccoStore
@_exported import SiroccoWire
