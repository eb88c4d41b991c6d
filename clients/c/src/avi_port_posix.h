/*
 * avi_port_posix.h: the socket, clock and random ports on POSIX: Linux,
 * macOS, and ESP-IDF / Arduino-ESP32 (lwIP's BSD sockets, esp_fill_random).
 *
 *   avi_posix_t net;
 *   avi_socket_t sock;
 *   avi_system_t sys;
 *   if (avi_posix_open(&net, 0) != 0) ... ;   // any local port
 *   avi_posix_ports(&net, &sock, &sys);
 *   avi_posix_addr("192.168.1.10", 8888, &cfg.gateway);
 */
#ifndef AVI_PORT_POSIX_H
#define AVI_PORT_POSIX_H

#include "avi_client.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
  int fd;
} avi_posix_t;

/* Opens a UDP socket bound to local_port (0: any), broadcast allowed.
 * Returns 0 or AVI_ERR_SOCKET. */
int avi_posix_open(avi_posix_t *p, uint16_t local_port);
/* Fills the socket and system ports (send/recv on p, monotonic clock, OS
 * random source). */
void avi_posix_ports(avi_posix_t *p, avi_socket_t *sock, avi_system_t *sys);
/* Resolves an IPv4 address or host name; 0, or AVI_ERR_ARG. */
int avi_posix_addr(const char *host, uint16_t port, avi_addr_t *out);
/* The local port the socket is bound to (0 on error). */
uint16_t avi_posix_local_port(const avi_posix_t *p);
void avi_posix_close(avi_posix_t *p);

#ifdef __cplusplus
}
#endif
#endif
