/* The few Linux calls the unix platform cannot make from Swift directly: ioctl is variadic,
 * and struct epoll_event is packed. Every function returns -errno on failure. */
#ifndef CSIROCCO_UNIX_H
#define CSIROCCO_UNIX_H

#include <stdint.h>
#include <stddef.h>

/* Attaches to TAP interface `name` (IFF_TAP | IFF_NO_PI), non-blocking, close-on-exec.
 * With `offload`, also IFF_VNET_HDR (a 10-byte virtio-net header before every frame) and
 * TUNSETOFFLOAD(TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6). */
int sirocco_tap_open(const char *name, int offload);

/* MTU of network interface `name` (SIOCGIFMTU), or -errno. */
int sirocco_interface_mtu(const char *name);

/* Whether interface `name` is up (1), down (0), or -errno. */
int sirocco_interface_up(const char *name);

/* A new epoll set plus a non-blocking CLOCK_MONOTONIC timerfd registered in it with
 * `timer_tag` (the unix platform uses UINT64_MAX; the spt tender Solo5's ~1U). */
int sirocco_poll_create(int *epoll_fd, int *timer_fd, uint64_t timer_tag);

/* Registers `fd` for input, reported with `tag`. */
int sirocco_poll_add(int epoll_fd, int fd, uint64_t tag);

/* Arms the timer for absolute monotonic time `deadline_ns`, or disarms it when negative. */
int sirocco_timer_set(int timer_fd, int64_t deadline_ns);

/* Waits up to `timeout_ms` (-1: no limit, 0: just look) until an fd is ready; returns how
 * many tags were written (a fired timer is drained). */
int sirocco_poll_wait(int epoll_fd, int timer_fd, uint64_t *tags, int capacity, int timeout_ms);

/* Fills `buffer` from the kernel's random source (getrandom(2)); returns 0 or -errno. */
int sirocco_random(void *buffer, size_t length);

/* The calling thread's errno as text. */
const char *sirocco_strerror(int error);

/* Host sockets, for the unix target's socket stack: descriptors non-blocking and
 * close-on-exec, -errno on failure. An address is its bytes in network order, 4 of them
 * (IPv4) or 16 (IPv6; IPv6 sockets are IPv6-only, so :: and 0.0.0.0 can share a port);
 * ports are in host byte order. */
/* An empty epoll set (for the host sockets, itself watched by the loop's set); -errno. */
int sirocco_poll_create_set(void);
int sirocco_poll_add_edge(int epoll_fd, int fd, uint64_t tag);
/* What a TCPConnection.Configuration becomes on a host socket. */
struct sirocco_tcp_options {
    int no_delay;            /* TCP_NODELAY */
    int receive_buffer;      /* SO_RCVBUF, bytes of window; 0: the kernel's autotuning */
    int send_buffer;         /* SO_SNDBUF; 0: the kernel's */
    int keep_alive_idle;     /* seconds; 0: no keep-alive */
    int keep_alive_interval; /* TCP_KEEPINTVL, seconds */
    int keep_alive_probes;   /* TCP_KEEPCNT */
    int syn_retries;         /* TCP_SYNCNT; 0: the kernel's */
    int congestion;          /* TCP_CONGESTION: 1 "cubic", 2 "reno" (NewReno), 0 the kernel's;
                              * | 4: required (else kept only if the kernel allows it) */
};
int sirocco_tcp_configure(int fd, const struct sirocco_tcp_options *options);
int sirocco_tcp_listen(const uint8_t *address, int length, uint16_t port, int backlog,
                       const struct sirocco_tcp_options *options);
int sirocco_tcp_accept(int fd);
/* From `local` (all zeros: any) to `address`, both `length` bytes long. */
int sirocco_tcp_connect(const uint8_t *local, const uint8_t *address, int length, uint16_t port,
                        const struct sirocco_tcp_options *options);
int sirocco_socket_error(int fd);
/* The socket's own (peer 0) or its peer's (1) address, in `address` (16 bytes of room), its
 * length in `length`. */
int sirocco_socket_name(int fd, int peer, uint8_t *address, int *length, uint16_t *port);
int sirocco_socket_pending(int fd);
long sirocco_socket_receive(int fd, void *buffer, size_t length);
long sirocco_socket_send(int fd, const void *buffer, size_t length);
int sirocco_socket_shutdown_write(int fd);
/* 1 if the peer has closed and nothing is left to read, 0 if not (yet), -errno. */
int sirocco_socket_at_end(int fd);
void sirocco_tcp_abort(int fd);
int sirocco_udp_bind(const uint8_t *address, int length, uint16_t port);
/* The sender's address as sirocco_socket_name gives one. */
long sirocco_udp_receive(int fd, void *buffer, size_t length, uint8_t *address, int *address_length, uint16_t *port);
long sirocco_udp_send(int fd, const void *buffer, size_t length, const uint8_t *address, int address_length,
                      uint16_t port);

/* Sirocco's batched I/O (sirocco-spt --io-uring and the unix platform's --io-uring;
 * SiroccoABI's SiroccoIORing says what an spt guest is told). The ring is created disabled,
 * mapped, given the TAP descriptors as its fixed files and one provided-buffer ring of
 * `buffer_entries` per TAP (buffer group i for TAP i), restricted (READ, WRITE and READ_MULTISHOT on fixed files only; no flag but
 * FIXED_FILE and BUFFER_SELECT; no registration), then enabled: from then on nothing can
 * widen what it does. Returns 0 or -errno, with `*stage` naming the step that failed. */
struct sirocco_io_ring {
    int fd;
    uint64_t sq_head, sq_tail, sqes;
    uint32_t sq_mask, sq_entries;
    uint64_t cq_head, cq_tail, cqes;
    uint32_t cq_mask, cq_entries;
};
int sirocco_io_ring_create(const int *taps, int count, unsigned entries, unsigned buffer_entries, struct sirocco_io_ring *ring,
                           uint64_t *buffer_rings, const char **stage);

#endif
