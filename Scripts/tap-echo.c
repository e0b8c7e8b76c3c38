// The floor of a ping responder in a process over a TAP, for Scripts/bench-ping: answers ARP
// requests and ICMP echo requests for one IPv4 address and nothing else, in place (the
// request turned into its reply: addresses swapped, type 0, checksum patched), no stack, no
// checks beyond what the answer needs. Whatever unikernel runs in a process over a TAP,
// Sirocco's included, pays at least this: a read and a write per echo, each a system call
// and a copy in the kernel, and, when it sleeps between echoes, a wake-up.
//
//   tap-echo sleep TAP ADDRESS   blocking read: sleeps until a frame comes
//   tap-echo busy TAP ADDRESS    non-blocking reads in a loop, never sleeping
//
// Prints "answering" once the TAP is attached. Exit 2 on bad usage, 1 if the TAP cannot be
// attached.
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

static const uint8_t mac[6] = {0x02, 0x00, 0x00, 0x00, 0xec, 0x01};

int main(int argc, char **argv) {
  struct in_addr address;
  int busy = argc == 4 && strcmp(argv[1], "busy") == 0;
  if (argc != 4 || (!busy && strcmp(argv[1], "sleep") != 0) || inet_pton(AF_INET, argv[3], &address) != 1) {
    fprintf(stderr, "usage: tap-echo sleep|busy TAP IPV4-ADDRESS\n");
    return 2;
  }
  int fd = open("/dev/net/tun", O_RDWR | (busy ? O_NONBLOCK : 0));
  struct ifreq ifr = {0};
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
  strncpy(ifr.ifr_name, argv[2], IFNAMSIZ - 1);
  if (fd < 0 || ioctl(fd, TUNSETIFF, &ifr) < 0) {
    fprintf(stderr, "tap-echo: cannot attach TAP '%s': %s\n", argv[2], strerror(errno));
    return 1;
  }
  fprintf(stderr, "answering\n");
  static uint8_t frame[2048];
  for (;;) {
    ssize_t length = read(fd, frame, sizeof frame);
    if (length < 42) continue;  // nothing yet (busy), or too short for either answer
    uint16_t type = (uint16_t)(frame[12] << 8 | frame[13]);
    if (type == 0x0806 && frame[21] == 1 && memcmp(frame + 38, &address, 4) == 0) {
      // ARP request for our address: the reply from our MAC.
      memcpy(frame, frame + 6, 6);
      memcpy(frame + 6, mac, 6);
      frame[21] = 2;
      uint8_t sender[10];
      memcpy(sender, frame + 22, 10);
      memcpy(frame + 22, mac, 6);
      memcpy(frame + 28, &address, 4);
      memcpy(frame + 32, sender, 10);
      (void)!write(fd, frame, (size_t)length);
    } else if (type == 0x0800 && frame[23] == 1 && memcmp(frame + 30, &address, 4) == 0) {
      size_t icmp = 14 + (size_t)(frame[14] & 0xf) * 4;
      if ((size_t)length < icmp + 8 || frame[icmp] != 8) continue;
      uint8_t peer[6], source[4];
      memcpy(peer, frame + 6, 6);
      memcpy(frame + 6, frame, 6);
      memcpy(frame, peer, 6);
      memcpy(source, frame + 26, 4);
      memcpy(frame + 26, frame + 30, 4);
      memcpy(frame + 30, source, 4);
      // Type 8 -> 0: the checksum rises by 0x0800 (RFC 1624, one's complement).
      frame[icmp] = 0;
      uint32_t sum = (uint32_t)(frame[icmp + 2] << 8 | frame[icmp + 3]) + 0x0800;
      sum = (sum & 0xffff) + (sum >> 16);
      frame[icmp + 2] = (uint8_t)(sum >> 8);
      frame[icmp + 3] = (uint8_t)sum;
      (void)!write(fd, frame, (size_t)length);
    }
  }
}
