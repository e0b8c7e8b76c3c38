// The floor of a user-space bridge over two TAPs, for Scripts/bench-bridge: each frame read
// from one TAP and written to the other as it came (its virtio-net header too, so offloaded
// frames pass whole), nothing learnt, nothing checked. Whatever bridge runs in a process,
// Sirocco's included, pays at least this: two copies of every byte in the kernel (out of
// one TAP, into the other) and a system call per frame each way, which a Linux bridge
// joining veth pairs does not.
//
//   tap-bridge plain TAP TAP    epoll_wait and read until EAGAIN
//   tap-bridge busy TAP TAP     the same, never sleeping (epoll_wait with timeout 0)
//   tap-bridge uring TAP TAP    io_uring: 16 reads outstanding per TAP, each completed read
//                               submitted as a write (built when liburing is there)
//   tap-bridge uring-async ...  the writes punted to io_uring's workers (IOSQE_ASYNC)
//
// Prints "bridging" once both TAPs are attached. Exit 2 on bad usage, 1 if a TAP cannot be
// attached.
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <unistd.h>
#ifdef HAVE_LIBURING
#include <liburing.h>
#endif

enum { FRAME = 65536 + 64, SLOTS = 16 };

static int attach(const char *name, int nonblocking) {
  int fd = open("/dev/net/tun", O_RDWR | (nonblocking ? O_NONBLOCK : 0));
  struct ifreq ifr = {0};
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
  strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
  int header = 12;  // struct virtio_net_hdr_mrg_rxbuf, as Sirocco's tenders use
  if (fd < 0 || ioctl(fd, TUNSETIFF, &ifr) < 0 || ioctl(fd, TUNSETVNETHDRSZ, &header) < 0 ||
      ioctl(fd, TUNSETOFFLOAD, TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6) < 0) {
    fprintf(stderr, "tap-bridge: cannot attach TAP '%s': %s\n", name, strerror(errno));
    exit(1);
  }
  return fd;
}

static _Noreturn void readWrite(const char *a, const char *b, int busy) {
  int fd[2] = {attach(a, 1), attach(b, 1)};
  int poll = epoll_create1(0);
  for (int i = 0; i < 2; i++) {
    struct epoll_event event = {.events = EPOLLIN, .data.u32 = (unsigned)i};
    epoll_ctl(poll, EPOLL_CTL_ADD, fd[i], &event);
  }
  static char frame[FRAME];
  fprintf(stderr, "bridging\n");
  for (;;) {
    struct epoll_event ready[2];
    int count = epoll_wait(poll, ready, 2, busy ? 0 : -1);
    for (int k = 0; k < count; k++) {
      int from = (int)ready[k].data.u32;
      for (ssize_t length; (length = read(fd[from], frame, FRAME)) > 0;) (void)!write(fd[1 - from], frame, (size_t)length);
    }
  }
}

#ifdef HAVE_LIBURING
static int uring(const char *a, const char *b, int async) {
  int fd[2] = {attach(a, 0), attach(b, 0)};
  struct io_uring ring;
  if (io_uring_queue_init(4 * SLOTS, &ring, 0) < 0 || io_uring_register_files(&ring, fd, 2) < 0) {
    fprintf(stderr, "tap-bridge: io_uring unavailable\n");
    return 1;
  }
  static char frames[2][SLOTS][FRAME];
  // user_data: bit 16 set for a write; bits 8-15 the TAP read from; bits 0-7 the slot.
  for (int side = 0; side < 2; side++) {
    for (int slot = 0; slot < SLOTS; slot++) {
      struct io_uring_sqe *read = io_uring_get_sqe(&ring);
      io_uring_prep_read(read, side, frames[side][slot], FRAME, 0);
      read->flags |= IOSQE_FIXED_FILE;
      read->user_data = (unsigned)(side << 8 | slot);
    }
  }
  fprintf(stderr, "bridging\n");
  for (;;) {
    io_uring_submit_and_wait(&ring, 1);
    struct io_uring_cqe *done;
    unsigned head, count = 0;
    io_uring_for_each_cqe(&ring, head, done) {
      count++;
      int side = (int)(done->user_data >> 8 & 0xff), slot = (int)(done->user_data & 0xff);
      struct io_uring_sqe *next = io_uring_get_sqe(&ring);
      if (done->user_data & 0x10000 || done->res <= 0) {  // written (or a failed read): read into the slot again
        io_uring_prep_read(next, side, frames[side][slot], FRAME, 0);
        next->flags |= IOSQE_FIXED_FILE;
        next->user_data = (unsigned)(side << 8 | slot);
      } else {
        io_uring_prep_write(next, 1 - side, frames[side][slot], (unsigned)done->res, 0);
        next->flags |= IOSQE_FIXED_FILE | (async ? IOSQE_ASYNC : 0);
        next->user_data = 0x10000u | (unsigned)(side << 8 | slot);
      }
    }
    io_uring_cq_advance(&ring, count);
  }
}
#endif

int main(int argc, char **argv) {
  if (argc == 4 && !strcmp(argv[1], "plain")) readWrite(argv[2], argv[3], 0);
  if (argc == 4 && !strcmp(argv[1], "busy")) readWrite(argv[2], argv[3], 1);
#ifdef HAVE_LIBURING
  if (argc == 4 && !strcmp(argv[1], "uring")) return uring(argv[2], argv[3], 0);
  if (argc == 4 && !strcmp(argv[1], "uring-async")) return uring(argv[2], argv[3], 1);
#endif
  fprintf(stderr, "tap-bridge: usage: tap-bridge plain|busy|uring|uring-async TAP TAP\n");
  return 2;
}
