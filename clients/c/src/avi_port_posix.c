/*
 * avi_port_posix.c: UDP through BSD sockets (select + recvfrom), the
 * monotonic clock, and the OS random source: getrandom (Linux),
 * esp_fill_random (ESP-IDF, Arduino-ESP32), arc4random_buf (BSD, macOS).
 */
#if !defined(_POSIX_C_SOURCE) && !defined(ESP_PLATFORM)
#define _POSIX_C_SOURCE 200809L
#endif
#if defined(__linux__) && !defined(_DEFAULT_SOURCE)
#define _DEFAULT_SOURCE /* getrandom */
#endif

#include "avi_port_posix.h"

#include <errno.h>
#include <string.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <netdb.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <time.h>
#include <unistd.h>

#if defined(ESP_PLATFORM)
#include "esp_random.h"
#elif defined(__linux__)
#include <sys/random.h>
#else
#include <stdlib.h> /* arc4random_buf */
#endif

static void to_sin(const avi_addr_t *a, struct sockaddr_in *s) {
  memset(s, 0, sizeof *s);
  s->sin_family = AF_INET;
  s->sin_port = htons(a->port);
  memcpy(&s->sin_addr.s_addr, a->ip, 4);
}

static int p_send(void *ctx, const avi_addr_t *to, const uint8_t *data, size_t len) {
  avi_posix_t *p = (avi_posix_t *)ctx;
  struct sockaddr_in s;
  to_sin(to, &s);
  return sendto(p->fd, (const char *)data, len, 0, (struct sockaddr *)&s, sizeof s) < 0
             ? AVI_ERR_SOCKET
             : 0;
}

static int p_recv(void *ctx, uint8_t *buf, size_t cap, avi_addr_t *from,
                  uint32_t timeout_ms) {
  avi_posix_t *p = (avi_posix_t *)ctx;
  struct sockaddr_in s;
  socklen_t sl = sizeof s;
  struct timeval tv;
  fd_set rd;
  ssize_t n;
  int flags = 0, r;
  FD_ZERO(&rd);
  FD_SET(p->fd, &rd);
  tv.tv_sec = (time_t)(timeout_ms / 1000);
  tv.tv_usec = (suseconds_t)(timeout_ms % 1000) * 1000;
  r = select(p->fd + 1, &rd, NULL, NULL, &tv);
  if (r < 0) return errno == EINTR ? 0 : AVI_ERR_SOCKET;
  if (r == 0) return 0;
#if defined(MSG_TRUNC) && defined(__linux__)
  flags = MSG_TRUNC; /* the real length of a larger datagram: dropped */
#endif
  n = recvfrom(p->fd, (char *)buf, cap, flags, (struct sockaddr *)&s, &sl);
  if (n < 0) {
    /* An ICMP error of an earlier datagram, or a signal: nothing received. */
    return errno == EINTR || errno == ECONNREFUSED || errno == EAGAIN ? 0 : AVI_ERR_SOCKET;
  }
  if (s.sin_family != AF_INET) return 0;
  memcpy(from->ip, &s.sin_addr.s_addr, 4);
  from->port = ntohs(s.sin_port);
  if (n == 0) return 0;
  return n > 0x7fffffff ? 0x7fffffff : (int)n;
}

static uint32_t p_now(void *ctx) {
  struct timespec ts;
  (void)ctx;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint32_t)((uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u);
}

static int p_random(void *ctx, uint8_t *out, size_t len) {
  (void)ctx;
#if defined(ESP_PLATFORM)
  esp_fill_random(out, len);
  return 0;
#elif defined(__linux__)
  while (len) {
    ssize_t n = getrandom(out, len, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return AVI_ERR_SOCKET;
    }
    out += n;
    len -= (size_t)n;
  }
  return 0;
#else
  arc4random_buf(out, len);
  return 0;
#endif
}

int avi_posix_open(avi_posix_t *p, uint16_t local_port) {
  struct sockaddr_in s;
  int one = 1;
  p->fd = socket(AF_INET, SOCK_DGRAM, 0);
  if (p->fd < 0) return AVI_ERR_SOCKET;
  (void)setsockopt(p->fd, SOL_SOCKET, SO_BROADCAST, (const char *)&one, sizeof one);
  memset(&s, 0, sizeof s);
  s.sin_family = AF_INET;
  s.sin_port = htons(local_port);
  s.sin_addr.s_addr = htonl(INADDR_ANY);
  if (bind(p->fd, (struct sockaddr *)&s, sizeof s) < 0) {
    close(p->fd);
    p->fd = -1;
    return AVI_ERR_SOCKET;
  }
  return 0;
}

uint16_t avi_posix_local_port(const avi_posix_t *p) {
  struct sockaddr_in s;
  socklen_t sl = sizeof s;
  if (getsockname(p->fd, (struct sockaddr *)&s, &sl) < 0) return 0;
  return ntohs(s.sin_port);
}

void avi_posix_ports(avi_posix_t *p, avi_socket_t *sock, avi_system_t *sys) {
  sock->ctx = p;
  sock->send = p_send;
  sock->recv = p_recv;
  sys->ctx = p;
  sys->now_ms = p_now;
  sys->random = p_random;
}

int avi_posix_addr(const char *host, uint16_t port, avi_addr_t *out) {
  struct addrinfo hints, *ai = NULL;
  struct in_addr a;
  if (inet_pton(AF_INET, host, &a) == 1) {
    memcpy(out->ip, &a.s_addr, 4);
    out->port = port;
    return 0;
  }
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_DGRAM;
  if (getaddrinfo(host, NULL, &hints, &ai) != 0 || !ai) return AVI_ERR_ARG;
  memcpy(out->ip, &((struct sockaddr_in *)ai->ai_addr)->sin_addr.s_addr, 4);
  out->port = port;
  freeaddrinfo(ai);
  return 0;
}

void avi_posix_close(avi_posix_t *p) {
  if (p->fd >= 0) close(p->fd);
  p->fd = -1;
}
