/*
 * tests/c_client/avi_client.c: a test program built on the shipped C client
 * (clients/c), with one crypto back end chosen at build time:
 *
 *   -DAVI_TEST_OPENSSL  clients/c/src/avi_crypto_openssl.c, -lcrypto
 *   -DAVI_TEST_MBEDTLS  clients/c/src/avi_crypto_mbedtls.c, -lmbedcrypto
 *   -DAVI_TEST_BUILTIN  clients/c/src/avi_crypto_builtin.c
 *
 * Usage:  avi_client selftest
 *         avi_client HOST PORT DEVICE_ID KEY_HEX64 MODE ...
 *           (handshake | run TOPIC | features TOPIC PEER | bench N W TOPIC)
 *
 * selftest   drives a client through an in-memory port and checks every
 *            worked example of docs/PROTOCOL.md section 8: the Hellos it
 *            sends, the Welcome it opens, the frames it seals, the bundles
 *            it sends and reads, the Reject, discovery; then the bundle
 *            rules of section 4.6 and the replay window.
 * handshake  connect, then close (Disconnect 0).
 * features TOPIC PEER  discovery (SearchGw to HOST:PORT), QoS 0 publishes on
 *            a long topic (an uplink alias), unsubscribe, a stream to PEER
 *            and back, sleep with a message kept by the gateway, the loss of
 *            the session (new handshake, subscription renewed, held publish
 *            delivered); see features().
 * bench N W TOPIC  N QoS 1 publishes on TOPIC, at most W unanswered; prints
 *            BENCH messages=N window=W ms=<elapsed>.
 * run        connect; Subscribe TOPIC; Publish QoS 1 on device/<id>/data;
 *            SensorUpdate "temp" 21.5; ButtonPress 1 double; two
 *            SensorUpdates "hum" 40.5 % and "bat" 87 % in one frame (a
 *            bundle) whose answers are then lost (this program drops what
 *            it receives until the client retransmitted the bundle: the
 *            gateway sees duplicates); Ping; print READY; wait for a
 *            Message on TOPIC (the client answers Pings, acknowledges
 *            QoS 1 once, keeps the session alive); close.
 *
 * Output (stdout, one event a line): WELCOME sid=<hex8> max_frame=<n>
 * keepalive=<s> gateway=<n> | SUBACK code=<n> | ACK <what> code=<n> |
 * ACK bundle hum=<n> bat=<n> | BUNDLE sent messages=<k> (k > 1) |
 * BUNDLE received messages=<k> (k > 1) | RETRANSMITTED bundle |
 * DROP malformed frame seq=<n> | PONG | READY | MESSAGE qos=<q>
 * topic=<topic> data=<hex> | REJECT code=<n> | DONE.
 * Errors: "avi_client: error: ..." on stderr, exit status 1.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "avi_client.h"
#include "avi_port_posix.h"

#if defined(AVI_TEST_OPENSSL)
#include "avi_crypto_openssl.h"
#define CRYPTO_NAME "openssl"
#elif defined(AVI_TEST_MBEDTLS)
#include "avi_crypto_mbedtls.h"
#define CRYPTO_NAME "mbedtls"
#elif defined(AVI_TEST_BUILTIN)
#include "avi_crypto_builtin.h"
#define CRYPTO_NAME "builtin"
#else
#error "define AVI_TEST_OPENSSL, AVI_TEST_MBEDTLS or AVI_TEST_BUILTIN"
#endif

static void die(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "avi_client: error: ");
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, "\n");
  va_end(ap);
  exit(1);
}

static int hex_val(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* Parses hex, skipping spaces and newlines; returns the byte count or -1. */
static int from_hex(const char *s, uint8_t *out, size_t cap) {
  size_t n = 0;
  while (*s) {
    int hi, lo;
    if (*s == ' ' || *s == '\n') { s++; continue; }
    hi = hex_val(s[0]);
    lo = s[1] ? hex_val(s[1]) : -1;
    if (hi < 0 || lo < 0 || n >= cap) return -1;
    out[n++] = (uint8_t)(hi << 4 | lo);
    s += 2;
  }
  return (int)n;
}

static void print_hex(FILE *f, const uint8_t *p, size_t n) {
  size_t i;
  for (i = 0; i < n; i++) fprintf(f, "%02x", p[i]);
}

/* The crypto back end of this build. */
#if defined(AVI_TEST_OPENSSL)
static avi_openssl_t crypto_state;
static void crypto_init(avi_crypto_t *c) {
  if (avi_crypto_openssl_init(c, &crypto_state)) die("OpenSSL init failed");
}
#elif defined(AVI_TEST_MBEDTLS)
static avi_mbedtls_t crypto_state;
static void crypto_init(avi_crypto_t *c) {
  if (avi_crypto_mbedtls_init(c, &crypto_state)) die("mbedTLS init failed");
}
#else
static void crypto_init(avi_crypto_t *c) { avi_crypto_builtin_init(c); }
#endif

/* ============================================================ selftest */

/* The in-memory port: scripted clock and random bytes, sent datagrams kept. */
typedef struct {
  uint32_t now;
  uint8_t rnd;
  uint8_t last[1500];
  size_t last_len;
  avi_addr_t last_to;
  int sent;
} fake_t;

static int f_send(void *ctx, const avi_addr_t *to, const uint8_t *d, size_t n) {
  fake_t *f = (fake_t *)ctx;
  memcpy(f->last, d, n);
  f->last_len = n;
  f->last_to = *to;
  f->sent++;
  return 0;
}
static uint32_t f_now(void *ctx) { return ((fake_t *)ctx)->now; }
static int f_random(void *ctx, uint8_t *out, size_t n) {
  memset(out, ((fake_t *)ctx)->rnd, n);
  return 0;
}

/* What the selftest's event callback saw. */
typedef struct {
  int acks, ack_ids[16], ack_codes[16], frames_in, last_count, malformed, messages;
  char message[256];
} seen_t;

static void st_event(void *user, const avi_event_t *ev) {
  seen_t *s = (seen_t *)user;
  switch (ev->type) {
  case AVI_EV_ACK:
    if (s->acks < 16) {
      s->ack_ids[s->acks] = ev->msg_id;
      s->ack_codes[s->acks] = ev->code;
    }
    s->acks++;
    break;
  case AVI_EV_FRAME_RECEIVED:
    s->frames_in++;
    s->last_count = ev->count;
    if (ev->code == AVI_E_MALFORMED) s->malformed++;
    break;
  case AVI_EV_MESSAGE:
    s->messages++;
    snprintf(s->message, sizeof s->message, "%s=%.*s", ev->topic, (int)ev->len,
             (const char *)ev->data);
    break;
  default:
    break;
  }
}

static int st_fail = 0;

static void st_ok(const char *what, int ok) {
  printf("SELFTEST %s %s\n", ok ? "ok" : "FAIL", what);
  if (!ok) st_fail = 1;
}

static void st_bytes(const char *what, const uint8_t *got, size_t gotlen, const char *hex) {
  uint8_t want[256];
  int n = from_hex(hex, want, sizeof want);
  int ok = n >= 0 && (size_t)n == gotlen && memcmp(got, want, gotlen) == 0;
  st_ok(what, ok);
  if (!ok) {
    printf("  got  ");
    print_hex(stdout, got, gotlen);
    printf("\n  want %s\n", hex);
  }
}

/* Hands doc hex to the client as a datagram from `from`. */
static void st_input(avi_client_t *c, const char *hex, const avi_addr_t *from) {
  uint8_t b[256];
  int n = from_hex(hex, b, sizeof b);
  if (n < 0) die("selftest: bad hex");
  avi_client_input(c, b, (size_t)n, from);
}

/* The plaintext of the last frame the device sent. */
static int st_open_last(const avi_crypto_t *cr, fake_t *f, const uint8_t *key, uint8_t *pt) {
  uint8_t frame[1500];
  int n;
  memcpy(frame, f->last, f->last_len);
  n = avi_frame_open(cr, key, frame, f->last_len);
  if (n > 0) memcpy(pt, frame + 10, (size_t)n);
  return n;
}

/* The hex blocks below are copied from docs/PROTOCOL.md, section 8. */
#define DOC_HELLO1 \
  "01 01 00 00 00 00 00 00 00 2a 11 11 11 11 11 11 11 11 11 11 11 11 11 11 11 11 04 00 " \
  "00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 24 35 78 3f 02 39 ea ea 81 4e " \
  "93 48 ca 38 23 7a"
#define DOC_COOKIE "01 02 65 53 f1 00 22 9c 5a dd 00 e1 39 31 d5 2f a4 3f"
#define DOC_HELLO2 \
  "01 01 00 00 00 00 00 00 00 2a 11 11 11 11 11 11 11 11 11 11 11 11 11 11 11 11 04 00 " \
  "65 53 f1 00 22 9c 5a dd 00 e1 39 31 d5 2f a4 3f b6 b5 69 32 26 ea 1d 7d 6d 61 4f f6 " \
  "5d ef 13 5c"
#define DOC_WELCOME \
  "01 03 01 02 03 04 a0 a0 a0 a0 a0 a0 a0 a0 a0 a0 a0 a0 a0 a0 a0 a0 20 32 87 1f 72 76 " \
  "77 28 e3 af 1b f2 87 c8 22 27 58 f5 18 3c 76 2c"
#define DOC_KD2G \
  "46 bb 55 10 84 6b 4a 6e 55 7b ec 18 77 4b 1e 61 21 6f b3 7c fb dd 43 9d ff e6 f1 83 " \
  "45 24 02 2b"
#define DOC_KG2D \
  "35 90 d3 b9 75 50 2a 99 c0 04 19 f7 0b 5a 82 7d 80 ac cf f2 31 02 b5 d8 9f 8d b8 12 " \
  "43 d3 df 2a"
#define DOC_FRAME1 \
  "01 10 01 02 03 04 00 00 00 01 c4 e0 03 bf bd fc 48 45 06 21 12 9b 8c c2 32 a6 4a 0b " \
  "9d bf e7 98 dd fe be 3c 3f 22 60 4b"
#define DOC_FRAME2 \
  "01 10 01 02 03 04 00 00 00 02 d6 80 30 d2 b6 ca 22 49 91 c3 31 7c 41 9b 0e 81 37 5d " \
  "9a 1a 01 b8 a4 6c 1e 44 16 f5 79 b3 bc"
#define DOC_BUNDLE_PT \
  "96 0c 05 a4 74 65 6d 70 00 ca 41 ae 00 00 c0 96 0c 06 a3 62 61 74 02 57 c0"
#define DOC_FRAME3 \
  "01 10 01 02 03 04 00 00 00 03 1a 53 e5 fc 43 1e 91 c9 39 36 40 29 ea b1 a8 06 15 33 " \
  "d0 0b 48 10 44 bf 60 51 13 74 bf f2 f9 8f b6 9d fb aa d0 b0 cf 87 5d"
#define DOC_GW_ACKS \
  "01 10 01 02 03 04 00 00 00 01 ce 38 07 f7 5c 01 5a 95 05 10 82 d7 e2 32 26 78 13 f2 " \
  "4e 3f 82 bf 96 70"
#define DOC_REJECT "01 04 02 01 02 03 04"
#define DOC_SEARCHGW "01 05 33 33 33 33 33 33 33 33 00 00 00 00 00 00 00 00"
#define DOC_GWINFO "01 06 33 33 33 33 33 33 33 33 22 b8 00 00 00 07"

static int selftest(void) {
  static uint8_t mem[AVI_MEM_DEFAULT], mem2[AVI_MEM_DEFAULT];
  avi_crypto_t cr;
  fake_t f;
  seen_t seen;
  avi_socket_t sock = {0};
  avi_system_t sys = {0};
  avi_config_t cfg;
  avi_client_t c, d;
  const avi_addr_t gw = {{192, 168, 1, 1}, 8888}, other = {{192, 168, 1, 9}, 8888};
  uint8_t kd[32], kg[32], pt[1500], nc[16], ns[16], frame[256];
  int n, i;

  crypto_init(&cr);
  memset(&f, 0, sizeof f);
  memset(&seen, 0, sizeof seen);
  f.now = 1000;
  sock.ctx = &f;
  sock.send = f_send;
  sys.ctx = &f;
  sys.now_ms = f_now;
  sys.random = f_random;
  avi_config_init(&cfg);
  cfg.device_id = 42;
  for (i = 0; i < 32; i++) cfg.key[i] = (uint8_t)i;
  cfg.gateway = gw;
  cfg.mem = mem;
  cfg.mem_len = sizeof mem;
  cfg.first_msg_id = 1;
  cfg.socket = &sock;
  cfg.system = &sys;
  cfg.crypto = &cr;
  cfg.on_event = st_event;
  cfg.user = &seen;
  if (avi_client_init(&c, &cfg)) die("selftest: init");

  /* Hello, Cookie, Hello, Welcome. */
  f.rnd = 0x11; /* the client nonce */
  avi_client_connect(&c);
  st_bytes("first Hello", f.last, f.last_len, DOC_HELLO1);
  {
    /* The gateway's cookie (section 3 step 1), computed here with the port. */
    const char *label = "avi-p2p/1 cookie", *source = "192.168.1.50:40000";
    uint8_t secret[32], t[4] = {0x65, 0x53, 0xf1, 0x00}, mac[32], cookie[18] = {1, 2};
    avi_bytes_t parts[4];
    memset(secret, 0x55, sizeof secret);
    parts[0].p = (const uint8_t *)label;
    parts[0].n = strlen(label);
    parts[1].p = t;
    parts[1].n = 4;
    parts[2].p = (const uint8_t *)source;
    parts[2].n = strlen(source);
    parts[3].p = f.last + 2;
    parts[3].n = 24;
    cr.hmac_sha256(cr.ctx, secret, 32, parts, 4, mac);
    memcpy(cookie + 2, t, 4);
    memcpy(cookie + 6, mac, 12);
    st_bytes("Cookie", cookie, sizeof cookie, DOC_COOKIE);
  }
  st_input(&c, DOC_COOKIE, &other); /* not from the gateway: ignored */
  n = f.sent;
  st_input(&c, DOC_COOKIE, &gw);
  st_ok("Cookie from the gateway only", f.sent == n + 1);
  st_bytes("second Hello", f.last, f.last_len, DOC_HELLO2);
  memset(nc, 0x11, 16);
  memset(ns, 0xa0, 16);
  avi_keys_derive(&cr, cfg.key, 42, 0x01020304, nc, ns, kd, kg);
  st_bytes("K_d2g", kd, 32, DOC_KD2G);
  st_bytes("K_g2d", kg, 32, DOC_KG2D);
  st_input(&c, DOC_WELCOME, &gw);
  st_ok("Welcome opens to [1024, 30, 7]",
        avi_client_state(&c) == AVI_CONNECTED && avi_client_session_id(&c) == 0x01020304 &&
            avi_client_frame(&c) == 1024 && avi_client_keepalive_s(&c) == 30 &&
            avi_client_gateway_id(&c) == 7);

  /* Subscribe (msgId 1): the document's first sealed frame. */
  st_ok("subscribe returns msgId 1", avi_client_subscribe(&c, "home/light") == 1);
  st_bytes("first sealed frame (Subscribe, seq 1)", f.last, f.last_len, DOC_FRAME1);
  /* Publish, ButtonPress, SensorUpdate (msgIds 2, 3, 4): their plaintexts. */
  avi_client_publish(&c, "home/light", (const uint8_t *)"on", 2, 1);
  n = st_open_last(&cr, &f, kd, pt);
  st_bytes("Publish plaintext", pt, n > 0 ? (size_t)n : 0,
           "95 05 02 01 aa 68 6f 6d 65 2f 6c 69 67 68 74 c4 02 6f 6e");
  avi_client_button(&c, 1, AVI_PRESS_DOUBLE, NULL, 0);
  n = st_open_last(&cr, &f, kd, pt);
  st_bytes("ButtonPress plaintext", pt, n > 0 ? (size_t)n : 0, "95 0b 03 01 01 c0");
  avi_client_sensor(&c, "temp", AVI_SENSOR_TEMPERATURE, 21.5, NULL, 0);
  n = st_open_last(&cr, &f, kd, pt);
  st_bytes("SensorUpdate plaintext", pt, n > 0 ? (size_t)n : 0,
           "96 0c 04 a4 74 65 6d 70 00 ca 41 ac 00 00 c0");
  /* The same plaintext sealed as sequence 2: the document's second frame. */
  memcpy(frame + 10, pt, (size_t)n);
  n = avi_frame_seal(&cr, kd, 0x01020304, 2, frame, (size_t)n);
  st_bytes("second sealed frame (SensorUpdate, seq 2)", frame, n > 0 ? (size_t)n : 0,
           DOC_FRAME2);

  /* A bundle: two readings taken together leave in one frame. */
  avi_client_batch_begin(&c);
  avi_client_sensor(&c, "temp", AVI_SENSOR_TEMPERATURE, 21.75, NULL, 0);
  avi_client_sensor(&c, "bat", AVI_SENSOR_BATTERY, 87, NULL, 0);
  n = f.sent;
  avi_client_batch_end(&c);
  st_ok("the batch left in one frame", f.sent == n + 1);
  n = st_open_last(&cr, &f, kd, pt);
  st_bytes("bundle plaintext (two SensorUpdates)", pt, n > 0 ? (size_t)n : 0, DOC_BUNDLE_PT);
  memcpy(frame + 10, pt, (size_t)n);
  n = avi_frame_seal(&cr, kd, 0x01020304, 3, frame, (size_t)n);
  st_bytes("bundled sealed frame (two SensorUpdates, seq 3)", frame, n > 0 ? (size_t)n : 0,
           DOC_FRAME3);

  /* The gateway's answer: Ack 5 and Ack 6 in its first frame. */
  st_input(&c, DOC_GW_ACKS, &gw);
  st_ok("bundled Acks frame (seq 1) opens to Ack 5, Ack 6",
        seen.acks == 2 && seen.ack_ids[0] == 5 && seen.ack_ids[1] == 6 &&
            seen.ack_codes[0] == 0 && seen.ack_codes[1] == 0 && seen.last_count == 2);
  st_input(&c, DOC_GW_ACKS, &gw);
  st_ok("replayed frame dropped", seen.acks == 2 && seen.frames_in == 1);

  /* A QoS 1 Message (msgId 2): delivered, and the device's Ack 2 ok. */
  {
    const char *msg = "95 06 02 01 aa 68 6f 6d 65 2f 6c 69 67 68 74 c4 01 78";
    uint8_t g[128];
    n = from_hex(msg, g + 10, sizeof g - 10);
    n = avi_frame_seal(&cr, kg, 0x01020304, 2, g, (size_t)n);
    avi_client_input(&c, g, (size_t)n, &gw);
    st_ok("QoS 1 Message delivered", seen.messages == 1 &&
                                        strcmp(seen.message, "home/light=x") == 0);
    n = st_open_last(&cr, &f, kd, pt);
    st_bytes("Ack plaintext", pt, n > 0 ? (size_t)n : 0, "93 07 02 00");
    /* The same frame again is replayed; the same message in a new frame is
     * a duplicate: acknowledged again, not delivered again. */
    avi_client_input(&c, g, (size_t)n, &gw);
    n = from_hex(msg, g + 10, sizeof g - 10);
    n = avi_frame_seal(&cr, kg, 0x01020304, 3, g, (size_t)n);
    i = f.sent;
    avi_client_input(&c, g, (size_t)n, &gw);
    n = st_open_last(&cr, &f, kd, pt);
    st_ok("duplicate acknowledged, not delivered", seen.messages == 1 && f.sent == i + 1 &&
                                                       n == 4 && pt[2] == 2);
    /* A forged frame: dropped. */
    g[20] ^= 1;
    i = seen.frames_in;
    avi_client_input(&c, g, (size_t)(n + 26), &gw);
    st_ok("forged frame dropped", seen.frames_in == i);
  }

  /* SubscribeAck 1, Acks 2..4; then 30 s of silence: the keep-alive Ping. */
  {
    const char *acks = "93 02 01 00 93 07 02 00 93 07 03 00 93 07 04 00";
    uint8_t g[128];
    n = from_hex(acks, g + 10, sizeof g - 10);
    n = avi_frame_seal(&cr, kg, 0x01020304, 4, g, (size_t)n);
    avi_client_input(&c, g, (size_t)n, &gw);
    st_ok("four answers in one frame", seen.acks == 6 && avi_client_pending(&c) == 0);
    f.now += 30000;
    avi_client_tick(&c);
    n = st_open_last(&cr, &f, kd, pt);
    st_bytes("Ping plaintext", pt, n > 0 ? (size_t)n : 0, "91 0e");
  }

  /* Bundle rules (section 4.6): 1..32 messages, checked all before any. */
  {
    uint8_t p[80], bp[32];
    const uint8_t bad_second[] = {0x91, 0x0e, 0x92, 0x07, 0x05, 0x91, 0x0e};
    const uint8_t unknown_type[] = {0x91, 0x0e, 0x91, 0x13};
    const uint8_t bad_utf8[] = {0x93, 0x01, 0x01, 0xa2, 0xc0, 0xaf};
    const uint8_t qos1_id0[] = {0x95, 0x06, 0x00, 0x01, 0xa1, 0x61, 0xc4, 0x00};
    const uint8_t alias0[] = {0x95, 0x06, 0x00, 0x00, 0x00, 0xc4, 0x00};
    const uint8_t f64_temp[] = {0x96, 0x0c, 0x01, 0xa1, 0x74, 0x00, 0xcb, 0, 0, 0, 0, 0, 0, 0, 0, 0xc0};
    int ok, bn = from_hex(DOC_BUNDLE_PT, bp, sizeof bp);
    ok = avi_messages_check(bp, (size_t)bn) == 2;
    for (i = 0; i < 33; i++) {
      p[2 * i] = 0x91;
      p[2 * i + 1] = 0x0e;
    }
    ok &= avi_messages_check(p, 64) == 32;
    ok &= avi_messages_check(p, 66) == -1;
    ok &= avi_messages_check(p, 0) == -1;
    ok &= avi_messages_check(p, 3) == -1;
    memcpy(p, bp, (size_t)bn);
    p[bn] = 0xc1;
    ok &= avi_messages_check(p, (size_t)bn + 1) == -1;
    ok &= avi_messages_check(bad_second, sizeof bad_second) == -1;
    ok &= avi_messages_check(unknown_type, sizeof unknown_type) == -1;
    ok &= avi_messages_check(bad_utf8, sizeof bad_utf8) == -1;
    ok &= avi_messages_check(qos1_id0, sizeof qos1_id0) == -1;
    ok &= avi_messages_check(alias0, sizeof alias0) == -1;
    ok &= avi_messages_check(f64_temp, sizeof f64_temp) == -1;
    st_ok("bundle rules (1..32 messages, all or nothing)", ok);
    /* A malformed bundle reaches the client: dropped whole, nothing handled. */
    memcpy(frame + 10, bad_second, sizeof bad_second);
    n = avi_frame_seal(&cr, kg, 0x01020304, 5, frame, sizeof bad_second);
    i = f.sent;
    avi_client_input(&c, frame, (size_t)n, &gw);
    st_ok("malformed bundle dropped whole (no Pong)", seen.malformed == 1 && f.sent == i);
  }

  /* Reject unknown session with our session id: a new handshake at once. */
  f.rnd = 0x22;
  st_input(&c, "01 04 02 01 02 03 05", &gw); /* another session id: ignored */
  st_ok("Reject of another session ignored", avi_client_state(&c) == AVI_CONNECTED);
  st_input(&c, DOC_REJECT, &gw);
  st_ok("Reject unknown session", avi_client_state(&c) == AVI_RECONNECTING &&
                                      f.last_len == 60 && f.last[1] == 1 && f.last[10] == 0x22);
  avi_client_close(&c);

  /* Discovery: SearchGw to the group, GwInfo gives the gateway. */
  cfg.gateway.port = 0;
  cfg.mem = mem2;
  if (avi_client_init(&d, &cfg)) die("selftest: init");
  f.rnd = 0x33;
  avi_client_connect(&d);
  st_bytes("SearchGw", f.last, f.last_len, DOC_SEARCHGW);
  st_ok("SearchGw to 239.255.97.118:8888", f.last_to.ip[0] == 239 && f.last_to.ip[3] == 118 &&
                                               f.last_to.port == 8888);
  {
    const avi_addr_t from = {{192, 168, 1, 7}, 40001};
    st_input(&d, DOC_GWINFO, &from);
    st_ok("GwInfo", avi_client_state(&d) == AVI_HANDSHAKING && f.last_len == 60 &&
                        f.last_to.ip[3] == 7 && f.last_to.port == 8888 &&
                        avi_client_gateway_id(&d) == 7);
  }
  avi_client_close(&d);
  printf("SELFTEST crypto %s\n", CRYPTO_NAME);
  printf(st_fail ? "SELFTEST FAIL\n" : "SELFTEST PASS\n");
  return st_fail ? 1 : 0;
}

/* ============================================================ real UDP */

typedef struct {
  avi_client_t c;
  uint64_t id;
  int connected, failed, fail_code, pong, malformed;
  /* Acks seen by msgId (last 64 calls). */
  int ack_id[64], ack_code[64], acks;
  /* The Message awaited, and messages seen. */
  const char *want_topic;
  int got_message;
  /* Dropping received datagrams until the bundle was retransmitted. */
  int drop_rx, bundles_sent;
  /* features: stream data seen, reconnection seen, sessions established. */
  int stream_data, reconnecting, sessions;
} app_t;

static avi_posix_t net;
static avi_socket_t lossy; /* the POSIX socket, able to drop what it receives */
static avi_socket_t posix_sock;
static app_t *the_app;

static int lossy_recv(void *ctx, uint8_t *buf, size_t cap, avi_addr_t *from, uint32_t ms) {
  int n = posix_sock.recv(ctx, buf, cap, from, ms);
  if (n > 0 && the_app && the_app->drop_rx) return 0; /* lost */
  return n;
}

static void on_event(void *user, const avi_event_t *ev) {
  app_t *a = (app_t *)user;
  switch (ev->type) {
  case AVI_EV_STATE:
    if (ev->state == AVI_RECONNECTING) a->reconnecting = 1;
    if (ev->state == AVI_CONNECTED) {
      a->connected = 1;
      a->sessions++;
      printf("WELCOME sid=%08x max_frame=%u keepalive=%u gateway=%u\n",
             (unsigned)avi_client_session_id(&a->c), (unsigned)avi_client_frame(&a->c),
             (unsigned)avi_client_keepalive_s(&a->c), (unsigned)avi_client_gateway_id(&a->c));
    }
    break;
  case AVI_EV_CONNECT_FAILED:
    a->failed = 1;
    a->fail_code = ev->code;
    break;
  case AVI_EV_ACK:
    a->ack_id[a->acks % 64] = ev->msg_id;
    a->ack_code[a->acks % 64] = ev->code;
    a->acks++;
    break;
  case AVI_EV_PONG:
    a->pong = 1;
    break;
  case AVI_EV_MESSAGE:
    printf("MESSAGE qos=%u topic=%s data=", ev->qos, ev->topic);
    print_hex(stdout, ev->data, ev->len);
    printf("\n");
    if (a->want_topic && strcmp(ev->topic, a->want_topic) == 0) a->got_message = 1;
    break;
  case AVI_EV_STREAM_DATA:
    printf("STREAM data=");
    print_hex(stdout, ev->data, ev->len);
    printf(" stream=%u seq=%u\n", ev->stream_id, (unsigned)ev->seq);
    a->stream_data = 1;
    break;
  case AVI_EV_ERROR:
    fprintf(stderr, "avi_client: gateway Error %s (code %u): %s\n", avi_code_name(ev->code),
            ev->code, ev->topic);
    break;
  case AVI_EV_FRAME_SENT:
    if (ev->count > 1) {
      printf("BUNDLE sent messages=%u\n", ev->count);
      if (a->drop_rx && ++a->bundles_sent == 2) {
        printf("RETRANSMITTED bundle\n");
        a->drop_rx = 0; /* the retransmission's answers are let through */
      }
    }
    break;
  case AVI_EV_FRAME_RECEIVED:
    if (ev->code == AVI_E_MALFORMED) printf("DROP malformed frame seq=%u\n", (unsigned)ev->seq);
    else if (ev->count > 1) printf("BUNDLE received messages=%u\n", ev->count);
    break;
  default:
    break;
  }
}

/* Polls until *flag is set, or dies after ms. */
static void wait_for(app_t *a, const int *flag, uint32_t ms, const char *what) {
  uint32_t waited = 0;
  while (!*flag) {
    if (a->failed) {
      if (a->fail_code) {
        printf("REJECT code=%d\n", a->fail_code);
        die("handshake refused: Reject %s (code %d)", avi_code_name(a->fail_code), a->fail_code);
      }
      die("no gateway answered");
    }
    if (waited >= ms) die("timed out waiting for %s", what);
    if (avi_client_poll(&a->c, 100) < 0) die("poll failed");
    waited += 100;
  }
}

/* The code of the Ack of msgId id, once it came (-1 before). */
static int ack_of(const app_t *a, int id) {
  int i, n = a->acks < 64 ? a->acks : 64;
  for (i = 0; i < n; i++)
    if (a->ack_id[i] == id) return a->ack_code[i];
  return -1;
}

static int await_ack(app_t *a, int id, const char *what) {
  int waited = 0, code;
  if (id <= 0) die("%s: %s", what, avi_err_name(id));
  while ((code = ack_of(a, id)) < 0) {
    if (waited >= 30000) die("no answer to %s", what);
    if (avi_client_poll(&a->c, 100) < 0) die("poll failed");
    waited += 100;
  }
  return code;
}

static void expect_ok(int code, const char *what) {
  if (code != 0) die("%s refused: %s (code %d)", what, avi_code_name(code), code);
}

static int run(app_t *a, const char *topic) {
  char dev_topic[64];
  const char *custom = "{\"room\":\"lab\"}";
  int code, hum, bat;

  wait_for(a, &a->connected, 30000, "the Welcome");

  code = await_ack(a, avi_client_subscribe(&a->c, topic), "Subscribe");
  printf("SUBACK code=%d\n", code);
  expect_ok(code, "Subscribe");

  snprintf(dev_topic, sizeof dev_topic, "device/%llu/data", (unsigned long long)a->id);
  code = await_ack(a, avi_client_publish(&a->c, dev_topic, (const uint8_t *)"hello from C", 12, 1),
                   "Publish");
  printf("ACK publish code=%d\n", code);
  expect_ok(code, "Publish");

  code = await_ack(a, avi_client_sensor(&a->c, "temp", AVI_SENSOR_TEMPERATURE, 21.5, NULL, 0),
                   "SensorUpdate");
  printf("ACK sensor code=%d\n", code);
  expect_ok(code, "SensorUpdate");

  code = await_ack(a, avi_client_button(&a->c, 1, AVI_PRESS_DOUBLE, (const uint8_t *)custom,
                                        strlen(custom)),
                   "ButtonPress");
  printf("ACK button code=%d\n", code);
  expect_ok(code, "ButtonPress");

  /* Two readings in one frame; their answers are lost until the client has
   * retransmitted both (together, same bytes): the gateway sees them twice. */
  a->drop_rx = 1;
  avi_client_batch_begin(&a->c);
  hum = avi_client_sensor(&a->c, "hum", AVI_SENSOR_HUMIDITY, 40.5, NULL, 0);
  bat = avi_client_sensor(&a->c, "bat", AVI_SENSOR_BATTERY, 87, NULL, 0);
  avi_client_batch_end(&a->c);
  a->bundles_sent = 1;
  code = await_ack(a, hum, "SensorUpdate hum");
  printf("ACK bundle hum=%d bat=%d\n", code, await_ack(a, bat, "SensorUpdate bat"));
  expect_ok(code, "SensorUpdate hum");
  expect_ok(ack_of(a, bat), "SensorUpdate bat");
  if (a->drop_rx) die("the bundle was answered before it was retransmitted");

  a->pong = 0;
  if (avi_client_ping(&a->c)) die("ping failed");
  wait_for(a, &a->pong, 30000, "the Pong");
  printf("PONG\n");

  printf("READY\n");
  a->want_topic = topic;
  wait_for(a, &a->got_message, 40000, "a Message");
  avi_client_close(&a->c);
  printf("DONE\n");
  return 0;
}

/* Polls for ms milliseconds. */
static void pump(app_t *a, uint32_t ms) {
  uint32_t waited = 0;
  while (waited < ms) {
    if (avi_client_poll(&a->c, 50) < 0) die("poll failed");
    waited += 50;
  }
}

/* What `run` does not: discovery, QoS 0 with an uplink alias, unsubscribe,
 * a stream to a mesh peer and back, sleep with a message kept by the
 * gateway, and the loss of the session (a new handshake, the subscription
 * renewed, a publish held meanwhile delivered in the new session). */
static int features(app_t *a, const char *topic, const char *peer) {
  char t[96], d[16];
  int i, code, id, sessions;
  const avi_addr_t *g;
  struct timespec nap = {2, 200000000};

  wait_for(a, &a->connected, 30000, "the Welcome");
  g = avi_client_gateway(&a->c);
  printf("DISCOVERED port=%u gateway=%u\n", g ? g->port : 0,
         (unsigned)avi_client_gateway_id(&a->c));
  code = await_ack(a, avi_client_subscribe(&a->c, topic), "Subscribe");
  printf("SUBACK code=%d\n", code);
  expect_ok(code, "Subscribe");

  /* QoS 0 on a long topic: the first carries the topic and registers an
   * alias; once the gateway acknowledged it, the others carry the alias. */
  snprintf(t, sizeof t, "device/%llu/telemetry/long-topic", (unsigned long long)a->id);
  for (i = 1; i <= 3; i++) {
    snprintf(d, sizeof d, "q0-%d", i);
    if (avi_client_publish(&a->c, t, (const uint8_t *)d, strlen(d), 0)) die("QoS 0 publish");
    pump(a, 300);
  }
  printf("QOS0 sent=3 aliased=%u\n", (unsigned)avi_client_stats(&a->c)->aliased);

  code = await_ack(a, avi_client_unsubscribe(&a->c, topic), "Unsubscribe");
  printf("UNSUBACK code=%d\n", code);
  expect_ok(code, "Unsubscribe");
  code = await_ack(a, avi_client_subscribe(&a->c, topic), "Subscribe");
  printf("SUBACK again code=%d\n", code);
  expect_ok(code, "Subscribe");

  /* A stream to the peer: three frames out, one back, closed. */
  code = await_ack(a, avi_client_stream_start(&a->c, 5, peer, "voice"), "StreamStart");
  printf("ACK stream code=%d\n", code);
  expect_ok(code, "StreamStart");
  for (i = 0; i < 3; i++) {
    uint8_t pcm[320];
    memset(pcm, i, sizeof pcm);
    if (avi_client_stream_send(&a->c, 5, pcm, sizeof pcm)) die("stream send");
  }
  wait_for(a, &a->stream_data, 20000, "stream data back");
  if (avi_client_stream_close(&a->c, 5, 0)) die("stream close");
  printf("STREAM closed\n");
  pump(a, 200);

  /* Sleep: the gateway keeps the session and what comes meanwhile; the
   * Ping at the end of the sleep wakes the session. The device does not
   * poll while it sleeps. */
  if (avi_client_sleep(&a->c, 2)) die("sleep");
  printf("SLEEPING\n");
  nanosleep(&nap, NULL);
  printf("AWAKE\n");
  a->got_message = 0;
  a->want_topic = topic;
  wait_for(a, &a->got_message, 20000, "the message kept during the sleep");

  /* The gateway forgets the session (the test removes the device and adds
   * it back): the next frame gets Reject unknown session. */
  printf("LOSS\n");
  sessions = a->sessions;
  a->reconnecting = 0;
  for (i = 0; !a->reconnecting; i++) {
    if (i == 100) die("the session was not lost");
    avi_client_ping(&a->c);
    pump(a, 200);
  }
  printf("RECONNECTING\n");
  snprintf(t, sizeof t, "device/%llu/data", (unsigned long long)a->id);
  id = avi_client_publish(&a->c, t, (const uint8_t *)"after loss", 10, 1); /* held */
  for (i = 0; a->sessions == sessions; i++) {
    if (i == 300) die("no new session");
    pump(a, 100);
  }
  printf("RECONNECTED\n");
  code = await_ack(a, id, "Publish after the loss");
  printf("ACK after reconnect code=%d\n", code);
  expect_ok(code, "Publish after the loss");
  a->got_message = 0;
  printf("READY again\n");
  wait_for(a, &a->got_message, 40000, "a Message in the new session");
  avi_client_close(&a->c);
  printf("DONE\n");
  return 0;
}

int main(int argc, char **argv) {
  static uint8_t mem[AVI_MEM_DEFAULT];
  static app_t app;
  avi_crypto_t cr;
  avi_system_t sys;
  avi_config_t cfg;
  const char *mode;
  char *end;
  unsigned long long idv;
  unsigned long port;
  uint8_t key[32];

  setvbuf(stdout, NULL, _IOLBF, 0);
  if (argc == 2 && strcmp(argv[1], "selftest") == 0) return selftest();
  if (argc < 6) {
    fprintf(stderr, "usage: avi_client selftest\n"
                    "       avi_client HOST PORT DEVICE_ID KEY_HEX64 handshake | run TOPIC |\n"
                    "           features TOPIC PEER_ID | bench N W TOPIC\n");
    return 2;
  }
  mode = argv[5];
  errno = 0;
  idv = strtoull(argv[3], &end, 10);
  if (errno || *end || idv > 9007199254740991ull) die("bad device id: %s", argv[3]);
  port = strtoul(argv[2], &end, 10);
  if (*end || port == 0 || port > 65535) die("bad port: %s", argv[2]);
  if (strlen(argv[4]) != 64 || from_hex(argv[4], key, sizeof key) != 32)
    die("the key must be 64 hex characters");

  crypto_init(&cr);
  if (avi_posix_open(&net, 0)) die("cannot open a UDP socket");
  avi_posix_ports(&net, &posix_sock, &sys);
  lossy = posix_sock;
  lossy.recv = lossy_recv;
  the_app = &app;

  avi_config_init(&cfg);
  cfg.device_id = idv;
  memcpy(cfg.key, key, 32);
  if (avi_posix_addr(argv[1], (uint16_t)port, &cfg.gateway)) die("cannot resolve %s", argv[1]);
  if (strcmp(mode, "features") == 0) { /* discover the gateway at that address */
    cfg.discovery = cfg.gateway;
    cfg.gateway.port = 0;
  }
  cfg.mem = mem;
  cfg.mem_len = sizeof mem;
  cfg.socket = &lossy;
  cfg.system = &sys;
  cfg.crypto = &cr;
  cfg.on_event = on_event;
  cfg.user = &app;
  app.id = idv;
  if (avi_client_init(&app.c, &cfg)) die("bad configuration");
  if (avi_client_connect(&app.c)) die("connect failed");

  if (strcmp(mode, "handshake") == 0) {
    wait_for(&app, &app.connected, 30000, "the Welcome");
    avi_client_close(&app.c);
    printf("DONE\n");
  } else if (strcmp(mode, "run") == 0) {
    if (argc < 7) die("run needs a TOPIC");
    run(&app, argv[6]);
  } else if (strcmp(mode, "features") == 0) {
    if (argc < 8) die("features needs TOPIC PEER_ID");
    features(&app, argv[6], argv[7]);
  } else if (strcmp(mode, "bench") == 0) {
    /* bench N WINDOW TOPIC: N QoS 1 publishes, at most WINDOW unanswered. */
    int n, w, sent = 0, i;
    uint32_t t0;
    if (argc < 9) die("bench needs N WINDOW TOPIC");
    n = atoi(argv[6]);
    w = atoi(argv[7]);
    wait_for(&app, &app.connected, 30000, "the Welcome");
    t0 = sys.now_ms(sys.ctx);
    while (app.acks < n) {
      /* What the window allows leaves together, in one frame (a bundle). */
      avi_client_batch_begin(&app.c);
      while (sent < n && sent - app.acks < w) {
        uint8_t b = (uint8_t)sent;
        if (avi_client_publish(&app.c, argv[8], &b, 1, 1) < 0) break;
        sent++;
      }
      avi_client_batch_end(&app.c);
      if (avi_client_poll(&app.c, 100) < 0) die("poll failed");
      if ((uint32_t)(sys.now_ms(sys.ctx) - t0) > 120000u) die("bench timed out");
    }
    for (i = 0; i < n && i < 64; i++)
      if (app.ack_code[i]) die("publish refused: %s", avi_code_name(app.ack_code[i]));
    printf("BENCH messages=%d window=%d ms=%u\n", n, w, (unsigned)(sys.now_ms(sys.ctx) - t0));
    avi_client_close(&app.c);
  } else die("unknown mode %s", mode);
  avi_posix_close(&net);
#if defined(AVI_TEST_OPENSSL)
  avi_crypto_openssl_free(&crypto_state);
#elif defined(AVI_TEST_MBEDTLS)
  avi_crypto_mbedtls_free(&crypto_state);
#endif
  return 0;
}
