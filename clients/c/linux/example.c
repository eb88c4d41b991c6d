/* A Linux device (`make` builds it as build/avi_example), OpenSSL crypto.
 * Usage: avi_example GATEWAY_HOST PORT DEVICE_ID KEY_HEX64 */
#include <stdio.h>
#include <stdlib.h>
#include "avi_client.h"
#include "avi_crypto_openssl.h"
#include "avi_port_posix.h"

static void on_event(void *user, const avi_event_t *ev) {
  int *done = (int *)user;
  if (ev->type == AVI_EV_STATE && ev->state == AVI_CONNECTED) puts("connected");
  if (ev->type == AVI_EV_CONNECT_FAILED) *done = -1; /* no gateway, or refused */
  if (ev->type == AVI_EV_MESSAGE) printf("%s: %.*s\n", ev->topic, (int)ev->len, (const char *)ev->data);
  if (ev->type == AVI_EV_ACK && ev->msg_type == AVI_MSG_SENSOR) *done = ev->code == 0 ? 1 : -1;
}

int main(int argc, char **argv) {
  static uint8_t mem[AVI_MEM_DEFAULT]; /* every buffer of the client: 4.5 KiB */
  avi_client_t c; avi_config_t cfg; avi_posix_t net; avi_socket_t sock; avi_system_t sys;
  avi_openssl_t ossl; avi_crypto_t crypto; int done = 0, i;
  if (argc != 5 || avi_posix_open(&net, 0) || avi_crypto_openssl_init(&crypto, &ossl)) return 2;
  avi_posix_ports(&net, &sock, &sys);
  avi_config_init(&cfg);
  avi_posix_addr(argv[1], (uint16_t)atoi(argv[2]), &cfg.gateway); /* port 0: discover */
  cfg.device_id = strtoull(argv[3], NULL, 10);
  for (i = 0; i < 32; i++) sscanf(argv[4] + 2 * i, "%2hhx", &cfg.key[i]);
  cfg.mem = mem, cfg.mem_len = sizeof mem, cfg.on_event = on_event, cfg.user = &done;
  cfg.socket = &sock, cfg.system = &sys, cfg.crypto = &crypto;
  if (avi_client_init(&c, &cfg) || avi_client_connect(&c)) return 2;
  while (avi_client_state(&c) != AVI_CONNECTED && !done) avi_client_poll(&c, 100);
  avi_client_subscribe(&c, "home/lights"); /* kept, and renewed after reconnections */
  avi_client_sensor(&c, "temp", AVI_SENSOR_TEMPERATURE, 21.5, NULL, 0);
  while (!done) avi_client_poll(&c, 100); /* until the reading is acknowledged */
  avi_client_close(&c);
  avi_crypto_openssl_free(&ossl);
  return done == 1 ? 0 : 1;
}
