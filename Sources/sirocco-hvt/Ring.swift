// The net ring (Solo5 v0.11+; ../shared/reference/solo5-abi.md 5.10): when the image declares
// a network device and KVM has ioeventfd, the tender reserves 2 MiB above guest memory for
// `struct hvt_ring` and tells the guest (boot information: `host_features` bit 0, `net_ring`
// its address). The guest then queues frames to write and buffers to read as ring entries
// instead of making NET_WRITE and NET_READ hypercalls, and kicks port 0x600 when this thread
// sleeps; the kick is an ioeventfd, so the vCPU does not leave the kernel. Readiness still
// comes from the POLL hypercall.
//
// The thread, like Solo5's: spins a while for new entries, else sets `needs_kick` and
// sleeps on the eventfd. It serves entries in order: a write (an unknown handle skipped, as
// with solo5-hvt) goes to the TAP device whole; a read fills the guest's buffer and posts a
// commit {id, result, length}. Every entry's buffer is checked against guest memory (which
// excludes the ring) after it is copied out of the shared page: one outside is a guest
// fault, reported by this thread, which then ends the tender with 255 (the vCPU is still
// running; there is no register state to report).
//
// It holds nothing reference-counted: raw pointers and integers only, copied once.

import CSiroccoHVTTender
import CSiroccoSPTTender
import CSiroccoUnix

struct RingServer {
  /// `struct hvt_ring` in the tender's address space.
  let ring: UnsafeMutableRawPointer
  let memory: GuestMemory
  let kick: Int32
  /// A network device's TAP descriptor by handle, -1 for a handle that is not one.
  let taps: UnsafeMutablePointer<Int32>
  let handles: Int

  /// Registers the kick and starts the thread: the kick's eventfd, or nil if KVM has no
  /// ioeventfd or the thread cannot start (the guest then uses hypercalls).
  static func start(_ vm: inout sirocco_hvt, memory: GuestMemory, devices: AttachedDevices, handles: Int) -> Int32? {
    let kick = sirocco_hvt_ring_kick_create(&vm)
    guard kick >= 0 else { return nil }
    let taps = UnsafeMutablePointer<Int32>.allocate(capacity: handles)
    taps.initialize(repeating: -1, count: handles)
    for network in devices.networks where network.index < handles { taps[network.index] = network.fileDescriptor }
    let server = UnsafeMutablePointer<RingServer>.allocate(capacity: 1)
    server.initialize(to: RingServer(ring: memory.base + Int(memory.size), memory: memory, kick: kick, taps: taps, handles: handles))
    let started = sirocco_hvt_thread_start({ context in
      context!.assumingMemoryBound(to: RingServer.self).pointee.serve()
    }, server)
    guard started == 0 else { return nil }
    return kick
  }

  func index(_ offset: Int) -> UInt32 { sirocco_ring_load(ring + offset) }
  func publish(_ offset: Int, _ value: UInt32) { sirocco_ring_store(ring + offset, value) }

  func serve() -> Never {
    var head = index(HVT.Ring.entryHead)
    var commitTail = index(HVT.Ring.commitTail)
    while true {
      var tail = index(HVT.Ring.entryTail)
      var spins = 0
      while tail == head, spins < 4096 {
        sirocco_ring_pause()
        tail = index(HVT.Ring.entryTail)
        spins += 1
      }
      if tail == head {
        // Sleep; the guest kicks when it sees needs_kick after queuing (both sides fence
        // between their store and their load, so one of them sees the other's).
        publish(HVT.Ring.needsKick, 1)
        sirocco_ring_fence()
        if index(HVT.Ring.entryTail) == head {
          let waited = sirocco_hvt_ring_wait(kick)
          if waited != 0 { stop("net ring: waiting for the guest: \(Tender.describe(-waited))", Tender.Status.failure) }
        }
        publish(HVT.Ring.needsKick, 0)
        continue
      }
      while head != tail {
        let entry = ring + HVT.Ring.entries + Int(head & (HVT.Ring.slots - 1)) * HVT.Ring.entrySize
        // Copied out once: the guest may change the shared entry while it is served.
        let operation = entry.load(as: UInt32.self)
        let handle = Int(entry.load(fromByteOffset: 4, as: UInt32.self))
        let address = entry.load(fromByteOffset: 8, as: UInt64.self)
        let length = UInt64(entry.load(fromByteOffset: 16, as: UInt32.self))
        let id = entry.load(fromByteOffset: 20, as: UInt32.self)
        head &+= 1
        let tap = handle < handles ? taps[handle] : -1
        switch operation {
        case HVT.Ring.operationWrite:
          guard tap >= 0 else { continue }
          let data = buffer(address, length: length, for: "write")
          let count = write(tap, data, Int(length))
          if count != Int(length) {
            stop("network device \(handle): a frame of \(length) bytes was not written whole: \(count < 0 ? Tender.describe(sirocco_spt_errno()) : "\(count) bytes")", Tender.Status.failure)
          }
        case HVT.Ring.operationRead:
          var result = Solo5Result.invalid
          var got: UInt32 = 0
          if tap >= 0 {
            let count = read(tap, buffer(address, length: length, for: "read"), Int(length))
            if count > 0 {
              result = Solo5Result.ok
              got = UInt32(count)
            } else if count == 0 || sirocco_spt_errno() == EAGAIN || sirocco_spt_errno() == EINTR {
              result = Solo5Result.again
            }
          }
          let commit = ring + HVT.Ring.commits + Int(commitTail & (HVT.Ring.slots - 1)) * HVT.Ring.commitSize
          commit.storeBytes(of: id, as: UInt32.self)
          commit.storeBytes(of: result, toByteOffset: 4, as: Int32.self)
          commit.storeBytes(of: got, toByteOffset: 8, as: UInt32.self)
          commitTail &+= 1
          publish(HVT.Ring.entryHead, head)
          publish(HVT.Ring.commitTail, commitTail)
        default:
          continue  // unknown operations are skipped, as with solo5-hvt
        }
      }
      publish(HVT.Ring.entryHead, head)
    }
  }

  /// The host pointer for an entry's buffer; one outside guest memory stops the tender.
  func buffer(_ address: UInt64, length: UInt64, for what: String) -> UnsafeMutableRawPointer {
    guard let pointer = memory.checked(address, length: length) else {
      stop("guest fault: net ring \(what): buffer at 0x\(String(address, radix: 16)) of \(length) bytes lies outside guest memory", Tender.Status.guestFault)
    }
    return pointer
  }

  /// Ends the tender from this thread: one line, then exit_group(status).
  func stop(_ message: String, _ status: Int32) -> Never {
    _ = Tender.fail(message, status)
    _exit(status)
  }
}
