/* Linux helpers for the unix platform (see include/CSiroccoUnix.h). */
#define _GNU_SOURCE
#include "CSiroccoUnix.h"

#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <linux/if_tun.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/timerfd.h>
#include <unistd.h>

int sirocco_tap_open(const char *name, int offload) {
    if (strlen(name) >= IFNAMSIZ) return -ENAMETOOLONG;
    /* Attach to an existing interface only, as Solo5's tenders do: TUNSETIFF would otherwise
     * create a new one, and a typo would leave a stray, unconfigured device behind. */
    if (if_nametoindex(name) == 0) return -ENODEV;
    int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return -errno;
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI | (offload ? IFF_VNET_HDR : 0);
    strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
    /* A TAP is busy while another process holds it, and for some 30 ms after a guest run
     * with `sirocco-spt --io-uring` exits (the kernel tears its ring down, fixed files and
     * all, after the process is gone): a second of retries covers that before refusing. */
    int tries = 0;
    while (ioctl(fd, TUNSETIFF, &ifr) < 0) {
        int error = errno;
        if (error == EBUSY && ++tries <= 100) {
            usleep(10000);
            continue;
        }
        close(fd);
        return -error;
    }
    /* With offload, every frame carries a 10-byte struct virtio_net_hdr; the kernel may
     * hand over TCP segments (IPv4 and IPv6) up to 64 KiB whose checksum it vouches for, and takes such
     * segments to cut up itself. Without, the offloads are switched off: they outlive the
     * descriptor that set them on a persistent TAP, and a reader of plain frames would get
     * 64 KiB frames with unfinished checksums. */
    int size = 10;
    if ((offload && ioctl(fd, TUNSETVNETHDRSZ, &size) < 0)
        || ioctl(fd, TUNSETOFFLOAD, offload ? (TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6) : 0) < 0) {
        int error = errno;
        close(fd);
        return -error;
    }
    return fd;
}

static int interface_request(const char *name, unsigned long request, struct ifreq *ifr) {
    if (strlen(name) >= IFNAMSIZ) return -ENAMETOOLONG;
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -errno;
    memset(ifr, 0, sizeof *ifr);
    strncpy(ifr->ifr_name, name, IFNAMSIZ - 1);
    int rc = ioctl(fd, request, ifr) < 0 ? -errno : 0;
    close(fd);
    return rc;
}

int sirocco_interface_mtu(const char *name) {
    struct ifreq ifr;
    int rc = interface_request(name, SIOCGIFMTU, &ifr);
    return rc < 0 ? rc : ifr.ifr_mtu;
}

int sirocco_interface_up(const char *name) {
    struct ifreq ifr;
    int rc = interface_request(name, SIOCGIFFLAGS, &ifr);
    return rc < 0 ? rc : (ifr.ifr_flags & IFF_UP) != 0;
}

int sirocco_poll_create(int *epoll_fd, int *timer_fd, uint64_t timer_tag) {
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) return -errno;
    int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (tfd < 0) {
        int error = errno;
        close(ep);
        return -error;
    }
    int rc = sirocco_poll_add(ep, tfd, timer_tag);
    if (rc < 0) {
        close(ep);
        close(tfd);
        return rc;
    }
    *epoll_fd = ep;
    *timer_fd = tfd;
    return 0;
}

int sirocco_poll_add(int epoll_fd, int fd, uint64_t tag) {
    struct epoll_event event = {.events = EPOLLIN, .data.u64 = tag};
    return epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &event) < 0 ? -errno : 0;
}

int sirocco_timer_set(int timer_fd, int64_t deadline_ns) {
    struct itimerspec spec;
    memset(&spec, 0, sizeof spec);
    if (deadline_ns >= 0) {
        spec.it_value.tv_sec = deadline_ns / 1000000000;
        spec.it_value.tv_nsec = deadline_ns % 1000000000;
        /* An all-zero it_value disarms: a deadline at time zero is already past anyway. */
        if (spec.it_value.tv_sec == 0 && spec.it_value.tv_nsec == 0) spec.it_value.tv_nsec = 1;
    }
    return timerfd_settime(timer_fd, TFD_TIMER_ABSTIME, &spec, NULL) < 0 ? -errno : 0;
}

int sirocco_poll_wait(int epoll_fd, int timer_fd, uint64_t *tags, int capacity, int timeout_ms) {
    struct epoll_event events[16];
    if (capacity > 16) capacity = 16;
    int n;
    do {
        n = epoll_wait(epoll_fd, events, capacity, timeout_ms);
    } while (n < 0 && errno == EINTR);
    if (n < 0) return -errno;
    for (int i = 0; i < n; i++) {
        tags[i] = events[i].data.u64;
        if (tags[i] == UINT64_MAX) {
            uint64_t expirations;
            (void)!read(timer_fd, &expirations, sizeof expirations);
        }
    }
    return n;
}

const char *sirocco_strerror(int error) { return strerror(error); }

int sirocco_random(void *buffer, size_t length) {
    size_t done = 0;
    while (done < length) {
        ssize_t got = getrandom((char *)buffer + done, length - done, 0);
        if (got < 0) {
            if (errno == EINTR) continue;
            return -errno;
        }
        done += (size_t)got;
    }
    return 0;
}

/* Host sockets (the unix target's socket stack). Addresses and ports in host byte order;
 * every descriptor non-blocking and close-on-exec. */

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

/* A socket address from `length` (4 or 16) bytes in network order and a port; its size. */
static socklen_t sirocco_address(struct sockaddr_storage *sa, const uint8_t *address, int length, uint16_t port) {
    memset(sa, 0, sizeof *sa);
    if (length == 16) {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)sa;
        in6->sin6_family = AF_INET6;
        memcpy(&in6->sin6_addr, address, 16);
        in6->sin6_port = htons(port);
        return sizeof *in6;
    }
    struct sockaddr_in *in = (struct sockaddr_in *)sa;
    in->sin_family = AF_INET;
    memcpy(&in->sin_addr, address, 4);
    in->sin_port = htons(port);
    return sizeof *in;
}

/* The bytes and port of `sa` into `address` (16 bytes of room), `length` and `port`. */
static void sirocco_address_read(const struct sockaddr_storage *sa, uint8_t *address, int *length, uint16_t *port) {
    if (sa->ss_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        memcpy(address, &in6->sin6_addr, 16);
        *length = 16;
        *port = ntohs(in6->sin6_port);
    } else {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        memcpy(address, &in->sin_addr, 4);
        *length = 4;
        *port = ntohs(in->sin_port);
    }
}

/* A socket of the family `length` names; IPv6 ones IPv6-only. */
static int sirocco_socket(int length, int type) {
    int fd = socket(length == 16 ? AF_INET6 : AF_INET, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -errno;
    int one = 1;
    if (length == 16 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) < 0) {
        int error = errno;
        close(fd);
        return -error;
    }
    return fd;
}

int sirocco_poll_create_set(void) {
    int ep = epoll_create1(EPOLL_CLOEXEC);
    return ep < 0 ? -errno : ep;
}

int sirocco_poll_add_edge(int epoll_fd, int fd, uint64_t tag) {
    struct epoll_event event = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, .data.u64 = tag};
    return epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &event) < 0 ? -errno : 0;
}

int sirocco_tcp_configure(int fd, const struct sirocco_tcp_options *o) {
    int one = 1, zero = 0;
    if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, o->no_delay ? &one : &zero, sizeof one) < 0) return -errno;
    /* Linux doubles what it is given (for its bookkeeping): half, so that the window is the
     * size asked for. Setting them turns the kernel's autotuning off for this socket. */
    int receive = o->receive_buffer / 2, send = o->send_buffer / 2;
    if (receive > 0 && setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &receive, sizeof receive) < 0) return -errno;
    if (send > 0 && setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &send, sizeof send) < 0) return -errno;
    if (o->keep_alive_idle > 0) {
        if (setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one) < 0
            || setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &o->keep_alive_idle, sizeof o->keep_alive_idle) < 0
            || setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &o->keep_alive_interval, sizeof o->keep_alive_interval) < 0
            || setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &o->keep_alive_probes, sizeof o->keep_alive_probes) < 0)
            return -errno;
    }
    if (o->syn_retries > 0 && setsockopt(fd, IPPROTO_TCP, TCP_SYNCNT, &o->syn_retries, sizeof o->syn_retries) < 0) return -errno;
    /* A user without CAP_NET_ADMIN may only choose what net.ipv4.tcp_allowed_congestion_control
     * lists: a preferred algorithm (the default configuration's) the kernel will not give
     * leaves the kernel's own; a required one fails. */
    const char *congestion = (o->congestion & 3) == 1 ? "cubic" : (o->congestion & 3) == 2 ? "reno" : NULL;
    if (congestion && setsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, congestion, (socklen_t)strlen(congestion)) < 0
        && (o->congestion & 4))
        return -errno;
    return 0;
}

int sirocco_tcp_listen(const uint8_t *address, int length, uint16_t port, int backlog,
                       const struct sirocco_tcp_options *options) {
    int fd = sirocco_socket(length, SOCK_STREAM);
    if (fd < 0) return fd;
    int one = 1;
    struct sockaddr_storage sa;
    socklen_t size = sirocco_address(&sa, address, length, port);
    /* Accepted sockets inherit the listener's options (buffers before listen: the window
     * scale is chosen from them). */
    int configured = sirocco_tcp_configure(fd, options);
    if (configured < 0) {
        close(fd);
        return configured;
    }
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0
        || bind(fd, (struct sockaddr *)&sa, size) < 0 || listen(fd, backlog) < 0) {
        int error = errno;
        close(fd);
        return -error;
    }
    return fd;
}

int sirocco_tcp_accept(int fd) {
    int accepted = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    return accepted < 0 ? -errno : accepted;
}

int sirocco_tcp_connect(const uint8_t *local, const uint8_t *address, int length, uint16_t port,
                        const struct sirocco_tcp_options *options) {
    int fd = sirocco_socket(length, SOCK_STREAM);
    if (fd < 0) return fd;
    static const uint8_t any[16];
    struct sockaddr_storage from, to;
    socklen_t from_size = sirocco_address(&from, local, length, 0);
    socklen_t to_size = sirocco_address(&to, address, length, port);
    int configured = sirocco_tcp_configure(fd, options);
    if (configured < 0) {
        close(fd);
        return configured;
    }
    if ((memcmp(local, any, length) != 0 && bind(fd, (struct sockaddr *)&from, from_size) < 0)
        || (connect(fd, (struct sockaddr *)&to, to_size) < 0 && errno != EINPROGRESS)) {
        int error = errno;
        close(fd);
        return -error;
    }
    return fd;
}

int sirocco_socket_error(int fd) {
    int error = 0;
    socklen_t length = sizeof error;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length) < 0) return errno;
    return error;
}

int sirocco_socket_name(int fd, int peer, uint8_t *address, int *length, uint16_t *port) {
    struct sockaddr_storage sa;
    socklen_t size = sizeof sa;
    int rc = peer ? getpeername(fd, (struct sockaddr *)&sa, &size) : getsockname(fd, (struct sockaddr *)&sa, &size);
    if (rc < 0) return -errno;
    sirocco_address_read(&sa, address, length, port);
    return 0;
}

int sirocco_socket_pending(int fd) {
    int count = 0;
    return ioctl(fd, FIONREAD, &count) < 0 ? -errno : count;
}

long sirocco_socket_receive(int fd, void *buffer, size_t length) {
    ssize_t count = recv(fd, buffer, length, MSG_DONTWAIT);
    return count < 0 ? -errno : count;
}

long sirocco_socket_send(int fd, const void *buffer, size_t length) {
    ssize_t count = send(fd, buffer, length, MSG_DONTWAIT | MSG_NOSIGNAL);
    return count < 0 ? -errno : count;
}

int sirocco_socket_shutdown_write(int fd) { return shutdown(fd, SHUT_WR) < 0 ? -errno : 0; }

void sirocco_tcp_abort(int fd) {
    struct linger linger = {.l_onoff = 1, .l_linger = 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &linger, sizeof linger);
    close(fd);
}

int sirocco_udp_bind(const uint8_t *address, int length, uint16_t port) {
    int fd = sirocco_socket(length, SOCK_DGRAM);
    if (fd < 0) return fd;
    struct sockaddr_storage sa;
    socklen_t size = sirocco_address(&sa, address, length, port);
    int one = 1;
    if (length == 4) setsockopt(fd, SOL_SOCKET, SO_BROADCAST, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&sa, size) < 0) {
        int error = errno;
        close(fd);
        return -error;
    }
    return fd;
}

long sirocco_udp_receive(int fd, void *buffer, size_t length, uint8_t *address, int *address_length, uint16_t *port) {
    struct sockaddr_storage sa;
    socklen_t size = sizeof sa;
    ssize_t count = recvfrom(fd, buffer, length, MSG_DONTWAIT | MSG_TRUNC, (struct sockaddr *)&sa, &size);
    if (count < 0) return -errno;
    sirocco_address_read(&sa, address, address_length, port);
    return count;
}

long sirocco_udp_send(int fd, const void *buffer, size_t length, const uint8_t *address, int address_length,
                      uint16_t port) {
    struct sockaddr_storage sa;
    socklen_t size = sirocco_address(&sa, address, address_length, port);
    ssize_t count = sendto(fd, buffer, length, MSG_DONTWAIT | MSG_NOSIGNAL, (struct sockaddr *)&sa, size);
    return count < 0 ? -errno : count;
}

int sirocco_socket_at_end(int fd) {
    char byte;
    ssize_t count = recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    if (count == 0) return 1;
    if (count > 0 || errno == EAGAIN || errno == EWOULDBLOCK) return 0;
    return -errno;
}

/* ---- io_uring ----
 *
 * Raw system calls and the uapi header (no liburing), shared by sirocco-spt and the unix
 * platform. Debian's header predates some of what is used here (NO_SQARRAY, 6.6;
 * READ_MULTISHOT, 6.7): those are defined below, and a kernel without them refuses the setup
 * or the restriction (the caller then says which step). */

#include <linux/io_uring.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#ifndef IORING_SETUP_NO_SQARRAY
#define IORING_SETUP_NO_SQARRAY (1U << 16)
#endif
#define SIROCCO_IORING_OP_READ_MULTISHOT 49

static long io_uring_register_call(int fd, unsigned op, void *arg, unsigned count) {
    long result = syscall(__NR_io_uring_register, fd, op, arg, count);
    return result < 0 ? -errno : result;
}

int sirocco_io_ring_create(const int *taps, int count, unsigned entries, unsigned buffer_entries, struct sirocco_io_ring *ring,
                           uint64_t *buffer_rings, const char **stage) {
    struct io_uring_params params;
    memset(&params, 0, sizeof params);
    /* Disabled until restricted; one task submits (the guest's); completions are posted only
     * when that task enters the ring (no interrupting task work); no SQ index array; a bad
     * entry does not stop the ones after it. */
    params.flags = IORING_SETUP_R_DISABLED | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_NO_SQARRAY |
                   IORING_SETUP_SUBMIT_ALL;
    *stage = "io_uring_setup";
    long fd = syscall(__NR_io_uring_setup, entries, &params);
    if (fd < 0) return -errno;
    int ring_fd = (int)fd;
    *stage = "io_uring_setup (features)";
    if (!(params.features & IORING_FEAT_SINGLE_MMAP) || !(params.features & IORING_FEAT_EXT_ARG) ||
        !(params.features & IORING_FEAT_NODROP))
        goto unsupported;
    *stage = "mapping the rings";
    size_t rings_size = params.cq_off.cqes + params.cq_entries * sizeof(struct io_uring_cqe);
    char *rings = mmap(NULL, rings_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, ring_fd, IORING_OFF_SQ_RING);
    if (rings == MAP_FAILED) goto failed;
    void *sqes = mmap(NULL, params.sq_entries * sizeof(struct io_uring_sqe), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, ring_fd,
                      IORING_OFF_SQES);
    if (sqes == MAP_FAILED) goto failed;
    *stage = "registering the TAP descriptors";
    long result = io_uring_register_call(ring_fd, IORING_REGISTER_FILES, (void *)taps, (unsigned)count);
    if (result < 0) goto register_failed;
    *stage = "registering the receive buffer rings";
    for (int i = 0; i < count; i++) {
        size_t size = ((size_t)buffer_entries * sizeof(struct io_uring_buf) + 4095) & ~(size_t)4095;
        void *memory = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (memory == MAP_FAILED) goto failed;
        struct io_uring_buf_reg registration;
        memset(&registration, 0, sizeof registration);
        registration.ring_addr = (uint64_t)(uintptr_t)memory;
        registration.ring_entries = buffer_entries;
        registration.bgid = (uint16_t)i;
        result = io_uring_register_call(ring_fd, IORING_REGISTER_PBUF_RING, &registration, 1);
        if (result < 0) goto register_failed;
        buffer_rings[i] = registration.ring_addr;
    }
    *stage = "restricting the ring";
    struct io_uring_restriction restrictions[5];
    memset(restrictions, 0, sizeof restrictions);
    restrictions[0].opcode = IORING_RESTRICTION_SQE_OP;
    restrictions[0].sqe_op = IORING_OP_READ;
    restrictions[1].opcode = IORING_RESTRICTION_SQE_OP;
    restrictions[1].sqe_op = IORING_OP_WRITE;
    restrictions[2].opcode = IORING_RESTRICTION_SQE_OP;
    restrictions[2].sqe_op = SIROCCO_IORING_OP_READ_MULTISHOT;
    restrictions[3].opcode = IORING_RESTRICTION_SQE_FLAGS_REQUIRED;
    restrictions[3].sqe_flags = IOSQE_FIXED_FILE;
    restrictions[4].opcode = IORING_RESTRICTION_SQE_FLAGS_ALLOWED;
    restrictions[4].sqe_flags = IOSQE_FIXED_FILE | IOSQE_BUFFER_SELECT;
    result = io_uring_register_call(ring_fd, IORING_REGISTER_RESTRICTIONS, restrictions, 5);
    if (result < 0) goto register_failed;
    *stage = "enabling the ring";
    result = io_uring_register_call(ring_fd, IORING_REGISTER_ENABLE_RINGS, NULL, 0);
    if (result < 0) goto register_failed;
    ring->fd = ring_fd;
    ring->sq_head = (uint64_t)(uintptr_t)(rings + params.sq_off.head);
    ring->sq_tail = (uint64_t)(uintptr_t)(rings + params.sq_off.tail);
    ring->sq_mask = *(uint32_t *)(rings + params.sq_off.ring_mask);
    ring->sq_entries = params.sq_entries;
    ring->sqes = (uint64_t)(uintptr_t)sqes;
    ring->cq_head = (uint64_t)(uintptr_t)(rings + params.cq_off.head);
    ring->cq_tail = (uint64_t)(uintptr_t)(rings + params.cq_off.tail);
    ring->cq_mask = *(uint32_t *)(rings + params.cq_off.ring_mask);
    ring->cq_entries = params.cq_entries;
    ring->cqes = (uint64_t)(uintptr_t)(rings + params.cq_off.cqes);
    return 0;
unsupported:
    close(ring_fd);
    return -EOPNOTSUPP;
register_failed:
    close(ring_fd);
    return (int)result;
failed: {
    int error = errno;
    close(ring_fd);
    return -error;
}
}
