/*
 * avi_fuzz.c: fuzzing of every parser of received bytes in the C client.
 *
 * Each input goes to six targets:
 *   1. avi_messages_check: a sealed frame's plaintext (MessagePack, 1..32
 *      messages, docs/PROTOCOL.md 4 and 4.6);
 *   2. avi_welcome_parse: the Welcome body;
 *   3. the input sealed (real keys, next sequence number) and handed to a
 *      connected client: pass 1, pass 2 and every message handler (acks of
 *      held messages, Messages by topic and alias, Register, streams,
 *      Error, Ping), and the answers it seals;
 *   4-6. the input as a raw datagram to a client in each state: connected,
 *      handshaking, searching (frame kinds, lengths, Cookie, Welcome,
 *      Reject, GwInfo, Sealed with its replay window and tag).
 * Every client starts from the same snapshot (a session with held
 * messages, subscriptions, aliases both ways, a stream); after each input
 * the driver checks the client's invariants (store and topic records
 * consistent, bounds) and touches every byte an event handed out (the
 * topic through strlen: it must be NUL-terminated), so that AddressSanitizer
 * sees any read out of bounds.
 *
 * Built two ways:
 *   - with -DAVI_LIBFUZZER and -fsanitize=fuzzer: LLVMFuzzerTestOneInput;
 *   - otherwise a seeded driver: `avi_fuzz run N SEED` mutates the seeds
 *     (the worked examples of docs/PROTOCOL.md 8 and a message of every
 *     type) with a xorshift generator and runs N inputs; `avi_fuzz replay
 *     FILE...` runs files (the regression corpus); `avi_fuzz check` reads
 *     length-prefixed inputs on stdin and prints avi_messages_check of each
 *     (for the differential test against the TypeScript decoder);
 *     `avi_fuzz seeds DIR` writes the seeds as files (a libFuzzer corpus).
 *
 * Crypto: OpenSSL (-DAVI_FUZZ_OPENSSL, not instrumented, fast) or the
 * built-in back end.
 */
#define _POSIX_C_SOURCE 200809L
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "avi_client.h"
#if defined(AVI_FUZZ_OPENSSL)
#include "avi_crypto_openssl.h"
#else
#include "avi_crypto_builtin.h"
#endif

/* ------------------------------------------------------------ the ports */

typedef struct {
  uint32_t now;
  uint8_t rnd;
  unsigned sent;
  uint8_t last[1500];
  size_t last_len;
} fake_t;

static int f_send(void *ctx, const avi_addr_t *to, const uint8_t *d, size_t n) {
  fake_t *f = (fake_t *)ctx;
  (void)to;
  if (n > sizeof f->last) abort(); /* never larger than a frame */
  memcpy(f->last, d, n);
  f->last_len = n;
  f->sent++;
  return 0;
}
static uint32_t f_now(void *ctx) { return ((fake_t *)ctx)->now; }
static int f_random(void *ctx, uint8_t *out, size_t n) {
  memset(out, ((fake_t *)ctx)->rnd, n);
  return 0;
}

static volatile unsigned sink; /* what events handed out, touched */

static void on_event(void *user, const avi_event_t *ev) {
  size_t i;
  unsigned s = 0;
  (void)user;
  if (ev->topic) {
    if (strlen(ev->topic) != ev->topic_len && ev->type == AVI_EV_MESSAGE) abort();
    for (i = 0; i < ev->topic_len; i++) s += (uint8_t)ev->topic[i];
  }
  for (i = 0; i < ev->len; i++) s += ev->data[i];
  sink += s;
}

/* ------------------------------------------------------------ the clients */

static avi_crypto_t cr;
#if defined(AVI_FUZZ_OPENSSL)
static avi_openssl_t cr_state;
#endif
static fake_t port;
static avi_socket_t sock;
static avi_system_t sys;

typedef struct {
  avi_client_t c, snap;
  uint8_t mem[AVI_MEM_DEFAULT], mem_snap[AVI_MEM_DEFAULT];
} fclient_t;

static fclient_t conn, hs, search;
static const avi_addr_t GW = {{192, 168, 1, 1}, 8888};
static uint8_t K_G2D[32];
static const uint32_t SID = 0x01020304;

static int hex(const char *s, uint8_t *out, size_t cap) {
  size_t n = 0;
  while (*s) {
    unsigned v;
    if (*s == ' ') { s++; continue; }
    if (n >= cap || sscanf(s, "%2x", &v) != 1) return -1;
    out[n++] = (uint8_t)v;
    s += 2;
  }
  return (int)n;
}

static void init_client(fclient_t *f, int with_gateway) {
  avi_config_t cfg;
  int i;
  avi_config_init(&cfg);
  cfg.device_id = 42;
  for (i = 0; i < 32; i++) cfg.key[i] = (uint8_t)i;
  if (with_gateway) cfg.gateway = GW;
  cfg.mem = f->mem;
  cfg.mem_len = sizeof f->mem;
  cfg.first_msg_id = 1;
  cfg.socket = &sock;
  cfg.system = &sys;
  cfg.crypto = &cr;
  cfg.on_event = on_event;
  if (avi_client_init(&f->c, &cfg)) abort();
}

static void snapshot(fclient_t *f) {
  f->snap = f->c;
  memcpy(f->mem_snap, f->mem, sizeof f->mem);
}
static void restore(fclient_t *f) {
  f->c = f->snap;
  memcpy(f->mem, f->mem_snap, sizeof f->mem);
}

/* Seals plaintext pt as the gateway's frame `seq` and hands it over. */
static void gateway_frame(fclient_t *f, const uint8_t *pt, size_t n, uint32_t seq) {
  static uint8_t frame[AVI_FRAME_DEFAULT];
  int len;
  if (n + AVI_OVERHEAD > sizeof frame) return;
  memcpy(frame + 10, pt, n);
  len = avi_frame_seal(&cr, K_G2D, SID, seq, frame, n);
  if (len < 0) abort();
  avi_client_input(&f->c, frame, (size_t)len, &GW);
}

static void setup(void) {
  uint8_t b[256];
  int n;
#if defined(AVI_FUZZ_OPENSSL)
  if (avi_crypto_openssl_init(&cr, &cr_state)) abort();
#else
  avi_crypto_builtin_init(&cr);
#endif
  sock.ctx = &port;
  sock.send = f_send;
  sys.ctx = &port;
  sys.now_ms = f_now;
  sys.random = f_random;
  port.now = 5000;
  hex("35 90 d3 b9 75 50 2a 99 c0 04 19 f7 0b 5a 82 7d 80 ac cf f2 31 02 b5 d8 9f 8d b8 12 43 d3 "
      "df 2a",
      K_G2D, 32);

  /* A connected client (the worked example's session) holding messages. */
  init_client(&conn, 1);
  port.rnd = 0x11;
  avi_client_connect(&conn.c);
  n = hex("01 03 01 02 03 04 a0 a0 a0 a0 a0 a0 a0 a0 a0 a0 a0 a0 a0 a0 a0 a0 20 32 87 1f 72 76 77 "
          "28 e3 af 1b f2 87 c8 22 27 58 f5 18 3c 76 2c",
          b, sizeof b);
  avi_client_input(&conn.c, b, (size_t)n, &GW);
  if (avi_client_state(&conn.c) != AVI_CONNECTED) abort();
  avi_client_subscribe(&conn.c, "home/light");                                  /* 1 */
  avi_client_publish(&conn.c, "home/light", (const uint8_t *)"on", 2, 1);       /* 2 */
  avi_client_button(&conn.c, 1, AVI_PRESS_DOUBLE, NULL, 0);                     /* 3 */
  avi_client_sensor(&conn.c, "temp", AVI_SENSOR_TEMPERATURE, 21.5, NULL, 0);    /* 4 */
  avi_client_stream_start(&conn.c, 7, "12D3KooWpeer", "voice");                 /* 5 */
  avi_client_publish(&conn.c, "device/42/sensor/long", (const uint8_t *)"x", 1, 0); /* 6: Register */
  avi_client_subscribe(&conn.c, "home/#");                                      /* 7 */
  /* The gateway registers alias 3 for a topic (seq 1). */
  n = hex("94 10 09 03 b1 68 6f 6d 65 2f 61 6c 69 61 73 2f 74 6f 70 69 63 73", b, sizeof b);
  gateway_frame(&conn, b, (size_t)n, 1);
  if (conn.c.stats.frames_dropped || avi_client_pending(&conn.c) != 7) abort();
  snapshot(&conn);

  /* A client in the handshake (Hello sent), and one searching. */
  init_client(&hs, 1);
  avi_client_connect(&hs.c);
  snapshot(&hs);
  init_client(&search, 0);
  port.rnd = 0x33;
  avi_client_connect(&search.c);
  snapshot(&search);
}

/* The client's stores are consistent: records parse to their end, the
 * held messages tile the pending store, counters within their bounds. */
static void check(const avi_client_t *c) {
  size_t o = 0, sum = 0;
  unsigned i;
  if (c->store_len > c->store_cap || c->topics_len > c->topics_cap ||
      c->pend_n > AVI_MAX_INFLIGHT || c->out_n != 0 || c->out_len != 0)
    abort();
  for (i = 0; i < c->pend_n; i++) {
    if (c->pend[i].off != sum || c->pend[i].len == 0) abort();
    sum += c->pend[i].len;
  }
  if (sum != c->store_len) abort();
  while (o < c->topics_len) {
    const uint8_t *r = c->topics + o;
    if (r[0] < 1 || r[0] > 5 || o + 5u + r[1] > c->topics_len || r[4 + r[1]] != 0) abort();
    o += 5u + r[1];
  }
  if (o != c->topics_len) abort();
  if (c->state == AVI_CONNECTED && (c->frame < AVI_FRAME_MIN || c->frame > c->max_frame))
    abort();
}

static void one_input(const uint8_t *data, size_t size) {
  uint16_t mf, ka;
  uint32_t gid;
  int k = avi_messages_check(data, size);
  if (k == 0 || k > 32) abort();
  (void)avi_welcome_parse(data, size, 1024, &mf, &ka, &gid);

  restore(&conn);
  gateway_frame(&conn, data, size, conn.c.rx_high + 1);
  check(&conn.c);

  restore(&conn);
  avi_client_input(&conn.c, data, size, &GW);
  check(&conn.c);
  restore(&hs);
  avi_client_input(&hs.c, data, size, &GW);
  check(&hs.c);
  restore(&search);
  avi_client_input(&search.c, data, size, &GW);
  check(&search.c);
}

#if defined(AVI_LIBFUZZER)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static int ready = 0;
  if (!ready) {
    setup();
    ready = 1;
  }
  one_input(data, size);
  return 0;
}

#else

/* ------------------------------------------------------------ the seeds */

/* The worked examples (docs/PROTOCOL.md 8) and a message of every type. */
static const char *const SEEDS[] = {
    /* plaintexts, device -> gateway (section 8) */
    "93 01 01 aa 68 6f 6d 65 2f 6c 69 67 68 74",
    "95 05 02 01 aa 68 6f 6d 65 2f 6c 69 67 68 74 c4 02 6f 6e",
    "95 0b 03 01 01 c0",
    "96 0c 04 a4 74 65 6d 70 00 ca 41 ac 00 00 c0",
    "93 07 02 00",
    "91 0e",
    "96 0c 05 a4 74 65 6d 70 00 ca 41 ae 00 00 c0 96 0c 06 a3 62 61 74 02 57 c0",
    "93 07 05 00 93 07 06 00",
    /* gateway -> device, each type, matching the snapshot's held messages */
    "93 02 01 00", "93 02 07 07", "93 07 02 00", "93 07 03 00 93 07 04 0c",
    "93 07 05 00", "93 07 05 07", "94 11 06 01 00", "94 11 06 01 08", "93 04 08 00",
    "95 06 00 00 aa 68 6f 6d 65 2f 6c 69 67 68 74 c4 02 6f 6e",
    "95 06 05 01 03 c4 01 78", "95 06 05 01 04 c4 01 78", "95 06 00 00 03 c5 00 01 78",
    "95 06 cd 01 00 01 d9 03 61 2f 62 c6 00 00 00 01 7a",
    "94 10 09 04 a3 61 2f 62", "94 10 0a 03 a1 7a", "94 09 07 00 c4 02 ab cd",
    "94 09 07 ce ff ff ff ff c4 00", "93 0a 07 00", "94 0d 04 00 a9 74 6f 6f 20 6c 61 72 67 65",
    "91 0f", "91 0e 91 0e 91 0e", "92 12 00", "95 08 05 07 a1 70 a1 76",
    "96 0c 04 a3 72 61 77 04 d2 80 00 00 00 c0", "96 0c 04 a3 73 74 73 03 c3 c4 01 00",
    "dc 00 03 07 02 00", "dd 00 00 00 03 cc 07 02 00",
    /* frames (section 8) */
    "01 02 65 53 f1 00 22 9c 5a dd 00 e1 39 31 d5 2f a4 3f",
    "01 03 01 02 03 04 a0 a0 a0 a0 a0 a0 a0 a0 a0 a0 a0 a0 a0 a0 a0 a0 20 32 87 1f 72 76 77 28 "
    "e3 af 1b f2 87 c8 22 27 58 f5 18 3c 76 2c",
    "01 10 01 02 03 04 00 00 00 01 ce 38 07 f7 5c 01 5a 95 05 10 82 d7 e2 32 26 78 13 f2 4e 3f "
    "82 bf 96 70",
    "01 10 01 02 03 04 00 00 00 02 d6 80 30 d2 b6 ca 22 49 91 c3 31 7c 41 9b 0e 81 37 5d 9a 1a "
    "01 b8 a4 6c 1e 44 16 f5 79 b3 bc",
    "01 04 02 01 02 03 04", "01 04 03 00 00 00 00", "01 04 0b 00 00 00 00",
    "01 05 33 33 33 33 33 33 33 33 00 00 00 00 00 00 00 00",
    "01 06 33 33 33 33 33 33 33 33 22 b8 00 00 00 07",
    "01 06 33 33 33 33 33 33 33 33 00 00 00 00 00 07",
    "01 01 00 00 00 00 00 00 00 2a 11 11 11 11 11 11 11 11 11 11 11 11 11 11 11 11 04 00 00 00 "
    "00 00 00 00 00 00 00 00 00 00 00 00 00 00 24 35 78 3f 02 39 ea ea 81 4e 93 48 ca 38 23 7a",
    /* Welcome bodies */
    "93 cd 04 00 1e 07", "93 cd 01 00 01 ce ff ff ff ff",
};
#define N_SEEDS (sizeof SEEDS / sizeof SEEDS[0])

static uint8_t seed_bytes[N_SEEDS][128];
static size_t seed_len[N_SEEDS];

static uint32_t rng_state;
static uint32_t rnd(void) {
  uint32_t x = rng_state;
  x ^= x << 13;
  x ^= x >> 17;
  x ^= x << 5;
  return rng_state = x;
}

/* Bytes that matter to MessagePack and to the frame headers. */
static const uint8_t INTERESTING[] = {0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x0e, 0x0f,
                                      0x10, 0x11, 0x12, 0x7f, 0x80, 0x90, 0x91, 0x93, 0x95, 0x96,
                                      0x9f, 0xa0, 0xa1, 0xbf, 0xc0, 0xc1, 0xc2, 0xc3, 0xc4, 0xc5,
                                      0xc6, 0xca, 0xcb, 0xcc, 0xcd, 0xce, 0xcf, 0xd0, 0xd1, 0xd2,
                                      0xd3, 0xd9, 0xda, 0xdb, 0xdc, 0xdd, 0xde, 0xe0, 0xed, 0xf0,
                                      0xf4, 0xf5, 0xff};

/* One mutated input from the seeds: mostly 1 or 2 mutations, up to 8. */
static size_t mutate(uint8_t *out, size_t cap) {
  size_t n, s = rnd() % N_SEEDS, k, i;
  memcpy(out, seed_bytes[s], seed_len[s]);
  n = seed_len[s];
  k = 1 + (rnd() % 4 ? rnd() % 2 : rnd() % 8);
  while (k--) {
    size_t pos = n ? rnd() % n : 0;
    switch (rnd() % 11) {
    case 0: /* flip a bit */
      if (n) out[pos] ^= (uint8_t)(1u << (rnd() % 8));
      break;
    case 1: /* an interesting byte */
      if (n) out[pos] = INTERESTING[rnd() % sizeof INTERESTING];
      break;
    case 2: /* a random byte */
      if (n) out[pos] = (uint8_t)rnd();
      break;
    case 3: /* insert a byte */
      if (n < cap) {
        memmove(out + pos + 1, out + pos, n - pos);
        out[pos] = rnd() & 1 ? INTERESTING[rnd() % sizeof INTERESTING] : (uint8_t)rnd();
        n++;
      }
      break;
    case 4: /* delete a run */
      if (n) {
        size_t len = 1 + rnd() % (n - pos < 4 ? n - pos : 4);
        memmove(out + pos, out + pos + len, n - pos - len);
        n -= len;
      }
      break;
    case 5: /* truncate */
      n = pos;
      break;
    case 6: /* append a seed (bundles) */
      s = rnd() % N_SEEDS;
      if (n + seed_len[s] <= cap) {
        memcpy(out + n, seed_bytes[s], seed_len[s]);
        n += seed_len[s];
      }
      break;
    case 7: /* repeat the input (many messages) */
      for (i = 0, s = 1 + rnd() % 40; i < s && n && 2 * n <= cap; i++) {
        memcpy(out + n, out, n);
        n *= 2;
      }
      break;
    case 8: /* a length or count field set to an edge */
      if (n) {
        static const uint8_t edges[] = {0x00, 0x01, 0x1f, 0x20, 0x40, 0x41, 0xfe, 0xff};
        out[pos] = edges[rnd() % sizeof edges];
      }
      break;
    case 9: /* copy a chunk within */
      if (n > 2) {
        size_t from = rnd() % n, len = 1 + rnd() % (n - from < 16 ? n - from : 16);
        size_t to = rnd() % n;
        if (to + len <= cap) {
          memmove(out + to, out + from, len);
          if (to + len > n) n = to + len;
        }
      }
      break;
    default: /* overwrite a 16-bit field big-endian */
      if (n > 1 && pos + 1 < n) {
        uint32_t v = rnd() & 1 ? rnd() & 0xffff : (rnd() & 1 ? 0xffff : n);
        out[pos] = (uint8_t)(v >> 8);
        out[pos + 1] = (uint8_t)v;
      }
    }
  }
  return n;
}

/* The input being run, saved as crash-<seed>-<index> if the driver dies
 * (an abort, or a sanitizer report), to become a regression file. */
static const uint8_t *cur;
static size_t cur_len;
static char crash_path[256];

static void save_crash(void) {
  int fd;
  if (!cur) return;
  fd = open(crash_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd >= 0) {
    if (write(fd, cur, cur_len) < 0) { /* nothing more to do */ }
    close(fd);
    if (write(2, "FUZZ crash saved: ", 18) < 0 || write(2, crash_path, strlen(crash_path)) < 0 ||
        write(2, "\n", 1) < 0) { /* stderr gone */ }
  }
  cur = NULL;
}

static void on_signal(int sig) {
  save_crash();
  signal(sig, SIG_DFL);
  raise(sig);
}

#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(undefined_behavior_sanitizer)
#define AVI_HAS_SANITIZER 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define AVI_HAS_SANITIZER 1
#endif
#if defined(AVI_HAS_SANITIZER)
void __sanitizer_set_death_callback(void (*callback)(void));
#endif

static int run_mutations(unsigned long count, uint32_t seed) {
  static uint8_t buf[4096];
  unsigned long i, valid = 0;
  const char *dir = getenv("AVI_FUZZ_CRASH_DIR");
  signal(SIGABRT, on_signal);
  signal(SIGSEGV, on_signal);
#if defined(AVI_HAS_SANITIZER)
  __sanitizer_set_death_callback(save_crash);
#endif
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  rng_state = seed ? seed : 1;
  for (i = 0; i < N_SEEDS; i++) one_input(seed_bytes[i], seed_len[i]);
  for (i = 0; i < count; i++) {
    size_t n = mutate(buf, sizeof buf);
    cur = buf;
    cur_len = n;
    snprintf(crash_path, sizeof crash_path, "%s/crash-%u-%lu", dir ? dir : ".", (unsigned)seed, i);
    valid += avi_messages_check(buf, n) > 0;
    one_input(buf, n);
  }
  cur = NULL;
  clock_gettime(CLOCK_MONOTONIC, &t1);
  printf("FUZZ inputs=%lu targets=6 valid_plaintexts=%lu seed=%u seconds=%.1f\n", count, valid,
         (unsigned)seed, (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);
  return 0;
}

static int replay(int argc, char **argv) {
  static uint8_t buf[1 << 16];
  int i;
  for (i = 0; i < argc; i++) {
    FILE *f = fopen(argv[i], "rb");
    size_t n;
    if (!f) {
      fprintf(stderr, "cannot open %s\n", argv[i]);
      return 2;
    }
    n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    one_input(buf, n);
    printf("REPLAY ok %s\n", argv[i]);
  }
  return 0;
}

/* Inputs on stdin as [u16 BE length][bytes]; prints the count of each. */
static int check_stdin(void) {
  static uint8_t buf[1 << 16];
  uint8_t l[2];
  while (fread(l, 1, 2, stdin) == 2) {
    size_t n = (size_t)l[0] << 8 | l[1];
    if (fread(buf, 1, n, stdin) != n) return 2;
    printf("%d\n", avi_messages_check(buf, n));
  }
  return 0;
}

static int write_seeds(const char *dir) {
  size_t i;
  char path[4096];
  for (i = 0; i < N_SEEDS; i++) {
    FILE *f;
    snprintf(path, sizeof path, "%s/seed_%02u", dir, (unsigned)i);
    f = fopen(path, "wb");
    if (!f || fwrite(seed_bytes[i], 1, seed_len[i], f) != seed_len[i]) return 2;
    fclose(f);
  }
  return 0;
}

int main(int argc, char **argv) {
  size_t i;
  int r = 2;
  for (i = 0; i < N_SEEDS; i++) {
    int n = hex(SEEDS[i], seed_bytes[i], sizeof seed_bytes[i]);
    if (n < 0) abort();
    seed_len[i] = (size_t)n;
  }
  setbuf(stdout, NULL);
  if (argc >= 2 && strcmp(argv[1], "check") == 0) return check_stdin();
  if (argc == 3 && strcmp(argv[1], "seeds") == 0) return write_seeds(argv[2]);
  setup();
  if (argc >= 2 && strcmp(argv[1], "run") == 0)
    r = run_mutations(argc > 2 ? strtoul(argv[2], NULL, 10) : 100000,
                      argc > 3 ? (uint32_t)strtoul(argv[3], NULL, 10) : 1);
  else if (argc >= 2 && strcmp(argv[1], "replay") == 0)
    r = replay(argc - 2, argv + 2);
  else
    fprintf(stderr, "usage: avi_fuzz run [N] [SEED] | replay FILE... | check | seeds DIR\n");
#if defined(AVI_FUZZ_OPENSSL)
  avi_crypto_openssl_free(&cr_state);
#endif
  return r;
}

#endif
