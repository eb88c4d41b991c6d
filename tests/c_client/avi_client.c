/*
 * avi_client.c: a minimal device client of the @avi/p2p device protocol,
 * version 1, written from docs/PROTOCOL.md alone (no other source read).
 *
 * It proves that the document is enough to write a C client: POSIX UDP
 * sockets, OpenSSL 3 libcrypto for the primitives (ChaCha20-Poly1305,
 * HMAC-SHA256, HKDF-SHA256, random bytes; on ESP-IDF mbedTLS has the same)
 * and a small MessagePack encoder/decoder of its own.
 *
 * Build:  cc -O2 -Wall -Werror -o avi_client avi_client.c -lcrypto
 *
 * Usage:  avi_client selftest
 *         avi_client HOST PORT DEVICE_ID KEY_HEX64 MODE [TOPIC]
 *
 * Modes:
 *   selftest   reproduce the worked examples of section 8 from their inputs
 *   handshake  Hello -> Cookie -> Hello -> Welcome, then Disconnect [18, 0]
 *   run        handshake; Subscribe TOPIC (await SubscribeAck); Publish QoS 1
 *              on device/<id>/data (await Ack); SensorUpdate "temp" 21.5
 *              (await Ack); ButtonPress 1 double (await Ack); two
 *              SensorUpdates "hum" 40.5 % and "bat" 87 % in one frame (await
 *              both Acks), then that same bundle again (duplicates: both
 *              acknowledged again); Ping (await Pong); print READY; wait for
 *              a Message on TOPIC (answering Ping with Pong, acknowledging
 *              QoS 1), print it; Disconnect.
 *
 * Every received Sealed frame may carry 1..32 messages (section 4.6): all
 * are checked first, then handled in order; a frame with a bad one is
 * dropped whole. The answers to one frame leave together, in one frame.
 *
 * Output (stdout, one event a line, line-buffered):
 *   WELCOME sid=<hex8> max_frame=<n> keepalive=<s> gateway=<n>
 *   SUBACK code=<n> | ACK <what> code=<n> | PONG | PING answered | READY
 *   ACK bundle hum=<n> bat=<n> | ACK bundle again hum=<n> bat=<n>
 *   BUNDLE sent messages=<k> | BUNDLE received messages=<k>   (k > 1)
 *   DROP malformed frame seq=<n>
 *   MESSAGE qos=<q> topic=<topic> data=<hex>
 *   DONE
 * Errors go to stderr as "avi_client: error: ..." with exit status 1.
 */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>

/* ---------------------------------------------------------------- basics */

#define PROTO_VERSION 0x01
#define K_HELLO 0x01
#define K_COOKIE 0x02
#define K_WELCOME 0x03
#define K_REJECT 0x04
#define K_SEARCHGW 0x05
#define K_GWINFO 0x06
#define K_SEALED 0x10

enum {
  M_SUBSCRIBE = 1, M_SUBACK = 2, M_UNSUBSCRIBE = 3, M_UNSUBACK = 4,
  M_PUBLISH = 5, M_MESSAGE = 6, M_ACK = 7, M_STREAMSTART = 8,
  M_STREAMDATA = 9, M_STREAMCLOSE = 10, M_BUTTON = 11, M_SENSOR = 12,
  M_ERROR = 13, M_PING = 14, M_PONG = 15, M_REGISTER = 16, M_REGACK = 17,
  M_DISCONNECT = 18
};

enum {
  E_OK = 0, E_MALFORMED = 1, E_UNKNOWN_SESSION = 2, E_NOT_AUTHORISED = 3,
  E_TOO_LARGE = 4, E_RATE_LIMITED = 5, E_UNSUPPORTED_VERSION = 6,
  E_NOT_PERMITTED = 7, E_LIMIT_REACHED = 8, E_UNKNOWN_STREAM = 9,
  E_UNKNOWN_ALIAS = 10, E_REPLAYED = 11, E_UNAVAILABLE = 12, E_INTERNAL = 13
};

static const char *error_name(unsigned code) {
  static const char *names[] = {
      "ok", "malformed", "unknown session", "not authorised", "too large",
      "rate limited", "unsupported version", "not permitted", "limit reached",
      "unknown stream", "unknown alias", "replayed", "unavailable",
      "internal error"};
  return code < sizeof names / sizeof names[0] ? names[code] : "unknown code";
}

static void die(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "avi_client: error: ");
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, "\n");
  va_end(ap);
  exit(1);
}

static uint64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void put_u16(uint8_t *p, uint16_t v) { p[0] = v >> 8; p[1] = v & 0xff; }
static void put_u32(uint8_t *p, uint32_t v) {
  p[0] = v >> 24; p[1] = v >> 16; p[2] = v >> 8; p[3] = v;
}
static void put_u64(uint8_t *p, uint64_t v) {
  for (int i = 7; i >= 0; i--) { p[i] = v & 0xff; v >>= 8; }
}
static uint32_t get_u32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
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
    if (*s == ' ' || *s == '\n') { s++; continue; }
    int hi = hex_val(s[0]), lo = s[1] ? hex_val(s[1]) : -1;
    if (hi < 0 || lo < 0 || n >= cap) return -1;
    out[n++] = (uint8_t)(hi << 4 | lo);
    s += 2;
  }
  return (int)n;
}

static void print_hex(FILE *f, const uint8_t *p, size_t n) {
  for (size_t i = 0; i < n; i++) fprintf(f, "%02x", p[i]);
}

/* ---------------------------------------------------------------- crypto */

static void hmac_sha256(const uint8_t *key, size_t klen, const uint8_t *d,
                        size_t dlen, uint8_t out[32]) {
  unsigned int olen = 32;
  if (!HMAC(EVP_sha256(), key, (int)klen, d, dlen, out, &olen) || olen != 32)
    die("HMAC-SHA256 failed");
}

static void hkdf_sha256(const uint8_t *ikm, size_t ikmlen, const uint8_t *salt,
                        size_t saltlen, const uint8_t *info, size_t infolen,
                        uint8_t *out, size_t outlen) {
  EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_HKDF, NULL);
  size_t len = outlen;
  if (!ctx || EVP_PKEY_derive_init(ctx) <= 0 ||
      EVP_PKEY_CTX_set_hkdf_md(ctx, EVP_sha256()) <= 0 ||
      EVP_PKEY_CTX_set1_hkdf_salt(ctx, salt, (int)saltlen) <= 0 ||
      EVP_PKEY_CTX_set1_hkdf_key(ctx, ikm, (int)ikmlen) <= 0 ||
      EVP_PKEY_CTX_add1_hkdf_info(ctx, info, (int)infolen) <= 0 ||
      EVP_PKEY_derive(ctx, out, &len) <= 0 || len != outlen)
    die("HKDF-SHA256 failed");
  EVP_PKEY_CTX_free(ctx);
}

/* ChaCha20-Poly1305 seal: out = ciphertext (ptlen bytes) || tag (16). */
static void aead_seal(const uint8_t key[32], const uint8_t nonce[12],
                      const uint8_t *aad, size_t aadlen, const uint8_t *pt,
                      size_t ptlen, uint8_t *out) {
  EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
  int len;
  if (!c || !EVP_EncryptInit_ex(c, EVP_chacha20_poly1305(), NULL, NULL, NULL) ||
      !EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_IVLEN, 12, NULL) ||
      !EVP_EncryptInit_ex(c, NULL, NULL, key, nonce) ||
      !EVP_EncryptUpdate(c, NULL, &len, aad, (int)aadlen) ||
      (ptlen > 0 && !EVP_EncryptUpdate(c, out, &len, pt, (int)ptlen)) ||
      !EVP_EncryptFinal_ex(c, out + ptlen, &len) ||
      !EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_GET_TAG, 16, out + ptlen))
    die("ChaCha20-Poly1305 seal failed");
  EVP_CIPHER_CTX_free(c);
}

/* Opens ct || tag (ctlen includes the tag); returns 0, or -1 if forged. */
static int aead_open(const uint8_t key[32], const uint8_t nonce[12],
                     const uint8_t *aad, size_t aadlen, const uint8_t *ct,
                     size_t ctlen, uint8_t *out) {
  if (ctlen < 16) return -1;
  size_t n = ctlen - 16;
  uint8_t tag[16];
  memcpy(tag, ct + n, 16);
  EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
  int len, ok;
  if (!c || !EVP_DecryptInit_ex(c, EVP_chacha20_poly1305(), NULL, NULL, NULL) ||
      !EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_IVLEN, 12, NULL) ||
      !EVP_DecryptInit_ex(c, NULL, NULL, key, nonce) ||
      !EVP_DecryptUpdate(c, NULL, &len, aad, (int)aadlen) ||
      (n > 0 && !EVP_DecryptUpdate(c, out, &len, ct, (int)n)) ||
      !EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_TAG, 16, tag))
    die("ChaCha20-Poly1305 open failed");
  ok = EVP_DecryptFinal_ex(c, out + n, &len);
  EVP_CIPHER_CTX_free(c);
  return ok > 0 ? 0 : -1;
}

static void random_bytes(uint8_t *p, size_t n) {
  if (RAND_bytes(p, (int)n) != 1) die("RAND_bytes failed");
}

/* ------------------------------------------------------------ MessagePack */

typedef struct { uint8_t *b; size_t n, cap; int err; } mpw;

static void mpw_raw(mpw *w, const void *p, size_t n) {
  if (w->err || w->n + n > w->cap) { w->err = 1; return; }
  memcpy(w->b + w->n, p, n);
  w->n += n;
}
static void mpw_byte(mpw *w, uint8_t v) { mpw_raw(w, &v, 1); }
static void mpw_array(mpw *w, unsigned n) { /* fixarray: every message has < 16 */
  if (n > 15) { w->err = 1; return; }
  mpw_byte(w, 0x90 | n);
}
static void mpw_uint(mpw *w, uint64_t v) {
  uint8_t t[9];
  if (v < 0x80) { mpw_byte(w, (uint8_t)v); return; }
  if (v <= 0xff) { t[0] = 0xcc; t[1] = (uint8_t)v; mpw_raw(w, t, 2); return; }
  if (v <= 0xffff) { t[0] = 0xcd; put_u16(t + 1, (uint16_t)v); mpw_raw(w, t, 3); return; }
  if (v <= 0xffffffffu) { t[0] = 0xce; put_u32(t + 1, (uint32_t)v); mpw_raw(w, t, 5); return; }
  t[0] = 0xcf; put_u64(t + 1, v); mpw_raw(w, t, 9);
}
static void mpw_str(mpw *w, const char *s, size_t n) {
  uint8_t t[2];
  if (n < 32) mpw_byte(w, 0xa0 | (uint8_t)n);
  else if (n <= 0xff) { t[0] = 0xd9; t[1] = (uint8_t)n; mpw_raw(w, t, 2); }
  else { w->err = 1; return; } /* every str of version 1 is <= 255 bytes */
  mpw_raw(w, s, n);
}
static void mpw_bin(mpw *w, const uint8_t *p, size_t n) {
  uint8_t t[3];
  if (n <= 0xff) { t[0] = 0xc4; t[1] = (uint8_t)n; mpw_raw(w, t, 2); }
  else if (n <= 0xffff) { t[0] = 0xc5; put_u16(t + 1, (uint16_t)n); mpw_raw(w, t, 3); }
  else { w->err = 1; return; }
  mpw_raw(w, p, n);
}
static void mpw_nil(mpw *w) { mpw_byte(w, 0xc0); }
static void mpw_f32(mpw *w, float f) {
  uint8_t t[5];
  uint32_t u;
  memcpy(&u, &f, 4);
  t[0] = 0xca;
  put_u32(t + 1, u);
  mpw_raw(w, t, 5);
}

typedef enum { V_UINT, V_NINT, V_STR, V_BIN, V_NIL, V_BOOL, V_F32, V_F64 } vtype;
typedef struct {
  vtype t;
  uint64_t u;      /* V_UINT, V_BOOL */
  int64_t i;       /* V_NINT */
  double f;        /* V_F32, V_F64 */
  const uint8_t *p; /* V_STR, V_BIN */
  size_t len;
} mpv;

#define MAX_FIELDS 8

/* Reads one scalar at *off; returns 0 or -1 (truncated or unsupported). */
static int mpr_scalar(const uint8_t *b, size_t n, size_t *off, mpv *v) {
  size_t o = *off, need = 0, len = 0;
  if (o >= n) return -1;
  uint8_t c = b[o++];
  memset(v, 0, sizeof *v);
#define NEED(k) do { if (n - o < (size_t)(k)) return -1; } while (0)
  if (c <= 0x7f) { v->t = V_UINT; v->u = c; }
  else if (c >= 0xe0) { v->t = V_NINT; v->i = (int8_t)c; }
  else if ((c & 0xe0) == 0xa0) { v->t = V_STR; len = c & 0x1f; need = 1; }
  else switch (c) {
    case 0xc0: v->t = V_NIL; break;
    case 0xc2: case 0xc3: v->t = V_BOOL; v->u = c == 0xc3; break;
    case 0xcc: NEED(1); v->t = V_UINT; v->u = b[o]; o += 1; break;
    case 0xcd: NEED(2); v->t = V_UINT; v->u = (uint64_t)b[o] << 8 | b[o + 1]; o += 2; break;
    case 0xce: NEED(4); v->t = V_UINT; v->u = get_u32(b + o); o += 4; break;
    case 0xcf: NEED(8); v->t = V_UINT; v->u = (uint64_t)get_u32(b + o) << 32 | get_u32(b + o + 4); o += 8; break;
    case 0xd0: NEED(1); v->t = V_NINT; v->i = (int8_t)b[o]; o += 1; break;
    case 0xd1: NEED(2); v->t = V_NINT; v->i = (int16_t)((uint16_t)b[o] << 8 | b[o + 1]); o += 2; break;
    case 0xd2: NEED(4); v->t = V_NINT; v->i = (int32_t)get_u32(b + o); o += 4; break;
    case 0xd3: NEED(8); v->t = V_NINT; v->i = (int64_t)((uint64_t)get_u32(b + o) << 32 | get_u32(b + o + 4)); o += 8; break;
    case 0xca: { NEED(4); uint32_t u = get_u32(b + o); float f; memcpy(&f, &u, 4); v->t = V_F32; v->f = f; o += 4; break; }
    case 0xcb: { NEED(8); uint64_t u = (uint64_t)get_u32(b + o) << 32 | get_u32(b + o + 4); double d; memcpy(&d, &u, 8); v->t = V_F64; v->f = d; o += 8; break; }
    case 0xd9: NEED(1); v->t = V_STR; len = b[o]; o += 1; need = 1; break;
    case 0xda: NEED(2); v->t = V_STR; len = (size_t)b[o] << 8 | b[o + 1]; o += 2; need = 1; break;
    case 0xdb: NEED(4); v->t = V_STR; len = get_u32(b + o); o += 4; need = 1; break;
    case 0xc4: NEED(1); v->t = V_BIN; len = b[o]; o += 1; need = 1; break;
    case 0xc5: NEED(2); v->t = V_BIN; len = (size_t)b[o] << 8 | b[o + 1]; o += 2; need = 1; break;
    case 0xc6: NEED(4); v->t = V_BIN; len = get_u32(b + o); o += 4; need = 1; break;
    default: return -1; /* arrays inside messages, maps, ext: not in v1 */
  }
  if (need) { NEED(len); v->p = b + o; v->len = len; o += len; }
#undef NEED
  /* A signed format holding a non-negative value is still an integer. */
  if (v->t == V_NINT && v->i >= 0) { v->t = V_UINT; v->u = (uint64_t)v->i; }
  *off = o;
  return 0;
}

/* Decodes the array of scalars that starts at *off (a message, or the
 * Welcome body) and moves *off to its end; returns 0, or -1 if it is not a
 * complete array of scalars within b[0..n). */
static int decode_one(const uint8_t *b, size_t n, size_t *off, mpv *f,
                      unsigned *count) {
  size_t o = *off, cnt;
  if (o >= n) return -1;
  uint8_t c = b[o++];
  if ((c & 0xf0) == 0x90) cnt = c & 0x0f;
  else if (c == 0xdc && n - o >= 2) { cnt = (size_t)b[o] << 8 | b[o + 1]; o += 2; }
  else if (c == 0xdd && n - o >= 4) { cnt = get_u32(b + o); o += 4; }
  else return -1;
  if (cnt < 1 || cnt > MAX_FIELDS) return -1;
  for (size_t i = 0; i < cnt; i++)
    if (mpr_scalar(b, n, &o, &f[i])) return -1;
  if (f[0].t != V_UINT) return -1;
  *count = (unsigned)cnt;
  *off = o;
  return 0;
}

/* Decodes exactly one array filling b[0..n): no trailing bytes. */
static int decode_message(const uint8_t *b, size_t n, mpv *f, unsigned *count) {
  size_t o = 0;
  return decode_one(b, n, &o, f, count) || o != n ? -1 : 0;
}

/* ------------------------------------------------------ message rules */

/* Valid UTF-8: no overlong forms, no surrogates, nothing above U+10FFFF. */
static int valid_utf8(const uint8_t *p, size_t n) {
  size_t i = 0;
  while (i < n) {
    uint8_t c = p[i];
    size_t k;
    uint32_t cp, min;
    if (c < 0x80) { i++; continue; }
    if ((c & 0xe0) == 0xc0) { k = 1; cp = c & 0x1f; min = 0x80; }
    else if ((c & 0xf0) == 0xe0) { k = 2; cp = c & 0x0f; min = 0x800; }
    else if ((c & 0xf8) == 0xf0) { k = 3; cp = c & 0x07; min = 0x10000; }
    else return 0;
    if (n - i - 1 < k) return 0;
    for (size_t j = 1; j <= k; j++) {
      if ((p[i + j] & 0xc0) != 0x80) return 0;
      cp = cp << 6 | (p[i + j] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
    i += k + 1;
  }
  return 1;
}

/* The arrays of section 4, one letter per element after the type:
 *   w msgId uint 0..65535   b uint8         d uint32       q qos 0|1
 *   s str <= 255            n str <= 64     t topic (str <= 255, or alias
 *   B bin                   o bin or nil      uint 1..65535)
 *   a alias uint 1..65535   p press 0..2
 *   k sensor kind 0..4      v the value of that kind */
static const char *const SHAPES[] = {
    NULL,   "ws",   "wb",   "ws",   "wb",    "wqtB",  "wqtB", "wb", "wbss",
    "bdB",  "bb",   "wbpo", "wnkvo", "bws",  "",      "",     "was", "wwb",
    "d"};

static int is_uint(const mpv *v, uint64_t max) { return v->t == V_UINT && v->u <= max; }
static int is_str(const mpv *v, size_t max) {
  return v->t == V_STR && v->len <= max && valid_utf8(v->p, v->len);
}

/* Checks one decoded message against section 4; returns 0 or -1 (malformed).
 * The direction is not checked: a message of the other direction decodes,
 * and is ignored by handle_message. */
static int check_message(const mpv *f, unsigned cnt) {
  if (f[0].u < 1 || f[0].u >= sizeof SHAPES / sizeof SHAPES[0]) return -1;
  const char *shape = SHAPES[f[0].u];
  if (cnt != 1 + strlen(shape)) return -1;
  for (unsigned i = 1; i < cnt; i++) {
    const mpv *v = &f[i];
    int ok;
    switch (shape[i - 1]) {
    case 'w': ok = is_uint(v, 0xffff); break;
    case 'b': ok = is_uint(v, 0xff); break;
    case 'd': ok = is_uint(v, 0xffffffffu); break;
    case 'q': ok = is_uint(v, 1); break;
    case 'p': ok = is_uint(v, 2); break;
    case 'k': ok = is_uint(v, 4); break;
    case 'a': ok = is_uint(v, 0xffff) && v->u >= 1; break;
    case 's': ok = is_str(v, 255); break;
    case 'n': ok = is_str(v, 64); break;
    case 't': ok = is_str(v, 255) || (is_uint(v, 0xffff) && v->u >= 1); break;
    case 'B': ok = v->t == V_BIN; break;
    case 'o': ok = v->t == V_BIN || v->t == V_NIL; break;
    case 'v': /* after 'k': temperature, humidity f32; battery uint8;
                 status bool; raw int32 */
      switch (f[i - 1].u) {
      case 0: case 1: ok = v->t == V_F32; break;
      case 2: ok = is_uint(v, 0xff); break;
      case 3: ok = v->t == V_BOOL; break;
      default:
        ok = is_uint(v, 0x7fffffff) || (v->t == V_NINT && v->i >= -2147483648LL);
      }
      break;
    default: ok = 0;
    }
    if (!ok) return -1;
  }
  /* Publish and Message: qos 1 needs a msgId (section 4). */
  if ((f[0].u == 5 || f[0].u == 6) && f[2].u == 1 && f[1].u == 0) return -1;
  return 0;
}

#define MAX_MESSAGES 32 /* per Sealed frame (section 4.6) */

/* Pass 1 over a received plaintext (section 4.6): checks every message, back
 * to back until the plaintext ends, without acting on any; returns how many
 * there are (1..32), or -1: the whole frame is malformed and dropped. Pass 2
 * (pump) decodes them again and handles each in order. */
static int count_messages(const uint8_t *pt, size_t n) {
  size_t off = 0;
  int k = 0;
  mpv f[MAX_FIELDS];
  unsigned cnt;
  if (n == 0) return -1;
  while (off < n) {
    if (k == MAX_MESSAGES) return -1;
    if (decode_one(pt, n, &off, f, &cnt) || check_message(f, cnt)) return -1;
    k++;
  }
  return k;
}

/* ------------------------------------------------------------ frames */

#define HELLO_LEN 60
#define COOKIE_LEN 18
#define REJECT_LEN 7
#define SEALED_OVERHEAD 26
#define MAX_FRAME_ASKED 1024

static const char LABEL_HELLO[] = "avi-p2p/1 hello";
static const char LABEL_COOKIE[] = "avi-p2p/1 cookie";
static const char LABEL_KEYS[] = "avi-p2p/1 keys";

static void build_hello(uint8_t out[HELLO_LEN], const uint8_t psk[32],
                        uint64_t id, const uint8_t nonce[16], uint16_t max_frame,
                        const uint8_t cookie[16]) {
  uint8_t mac_in[sizeof LABEL_HELLO - 1 + 44], mac[32];
  out[0] = PROTO_VERSION;
  out[1] = K_HELLO;
  put_u64(out + 2, id);
  memcpy(out + 10, nonce, 16);
  put_u16(out + 26, max_frame);
  memcpy(out + 28, cookie, 16);
  memcpy(mac_in, LABEL_HELLO, sizeof LABEL_HELLO - 1);
  memcpy(mac_in + sizeof LABEL_HELLO - 1, out, 44);
  hmac_sha256(psk, 32, mac_in, sizeof mac_in, mac);
  memcpy(out + 44, mac, 16);
}

static void derive_keys(const uint8_t psk[32], uint64_t id, uint32_t sid,
                        const uint8_t nc[16], const uint8_t ns[16],
                        uint8_t k_d2g[32], uint8_t k_g2d[32]) {
  uint8_t salt[32], info[sizeof LABEL_KEYS - 1 + 12], okm[64];
  memcpy(salt, nc, 16);
  memcpy(salt + 16, ns, 16);
  memcpy(info, LABEL_KEYS, sizeof LABEL_KEYS - 1);
  put_u64(info + sizeof LABEL_KEYS - 1, id);
  put_u32(info + sizeof LABEL_KEYS - 1 + 8, sid);
  hkdf_sha256(psk, 32, salt, 32, info, sizeof info, okm, 64);
  memcpy(k_d2g, okm, 32);
  memcpy(k_g2d, okm + 32, 32);
}

/* Opens a Welcome: returns 0 and the body fields, or -1. */
static int open_welcome(const uint8_t *w, size_t n, const uint8_t k_g2d[32],
                        const uint8_t nc[16], uint32_t *max_frame,
                        uint32_t *keepalive, uint32_t *gw_id) {
  uint8_t nonce[12] = {0}, aad[22 + 16], body[64];
  mpv f[MAX_FIELDS];
  unsigned cnt;
  if (n < 22 + 16 || n - 22 - 16 > sizeof body) return -1;
  memcpy(aad, w, 22);
  memcpy(aad + 22, nc, 16);
  if (aead_open(k_g2d, nonce, aad, sizeof aad, w + 22, n - 22, body)) return -1;
  if (decode_message(body, n - 22 - 16, f, &cnt) || cnt != 3) return -1;
  for (int i = 0; i < 3; i++) if (f[i].t != V_UINT) return -1;
  if (f[0].u < 256 || f[0].u > 1472 || f[1].u < 1 || f[2].u > 0xffffffffu) return -1;
  *max_frame = (uint32_t)f[0].u;
  *keepalive = (uint32_t)f[1].u;
  *gw_id = (uint32_t)f[2].u;
  return 0;
}

/* Seals one message into a Sealed frame; returns its length. */
static size_t seal_frame(uint8_t *out, uint32_t sid, uint32_t seq,
                         const uint8_t key[32], const uint8_t *pt, size_t ptlen) {
  uint8_t nonce[12] = {0};
  out[0] = PROTO_VERSION;
  out[1] = K_SEALED;
  put_u32(out + 2, sid);
  put_u32(out + 6, seq);
  put_u32(nonce + 8, seq);
  aead_seal(key, nonce, out, 10, pt, ptlen, out + 10);
  return 10 + ptlen + 16;
}

/* ------------------------------------------------------------ selftest */

static int st_fail = 0;

static void st_check(const char *what, const uint8_t *got, size_t gotlen,
                     const char *want_hex) {
  uint8_t want[256];
  int n = from_hex(want_hex, want, sizeof want);
  if (n < 0) die("selftest: bad hex for %s", what);
  if ((size_t)n == gotlen && memcmp(got, want, gotlen) == 0) {
    printf("SELFTEST ok %s\n", what);
    return;
  }
  st_fail = 1;
  printf("SELFTEST FAIL %s\n  got  ", what);
  print_hex(stdout, got, gotlen);
  printf("\n  want ");
  print_hex(stdout, want, (size_t)n);
  printf("\n");
}

/* The hex blocks below are copied verbatim from docs/PROTOCOL.md, section 8. */
static int selftest(void) {
  uint8_t psk[32], nc[16], ns[16], zero[16] = {0}, secret[32], buf[256];
  uint8_t cookie_frame[COOKIE_LEN], k_d2g[32], k_g2d[32];
  const uint64_t id = 42;
  const uint32_t sid = 0x01020304, t = 1700000000u;
  const char *source = "192.168.1.50:40000";
  for (int i = 0; i < 32; i++) psk[i] = (uint8_t)i;
  memset(nc, 0x11, 16);
  memset(ns, 0xa0, 16);
  memset(secret, 0x55, 32);

  uint8_t hello1[HELLO_LEN];
  build_hello(hello1, psk, id, nc, 1024, zero);
  st_check("first Hello", hello1, HELLO_LEN,
           "01 01 00 00 00 00 00 00 00 2a 11 11 11 11 11 11\n"
           "11 11 11 11 11 11 11 11 11 11 04 00 00 00 00 00\n"
           "00 00 00 00 00 00 00 00 00 00 00 00 24 35 78 3f\n"
           "02 39 ea ea 81 4e 93 48 ca 38 23 7a");

  /* The gateway's cookie, computed as section 3 step 1 says. */
  {
    size_t ll = sizeof LABEL_COOKIE - 1, sl = strlen(source), n = 0;
    uint8_t mac[32];
    memcpy(buf, LABEL_COOKIE, ll); n += ll;
    put_u32(buf + n, t); n += 4;
    memcpy(buf + n, source, sl); n += sl;
    memcpy(buf + n, hello1 + 2, 24); n += 24;
    hmac_sha256(secret, 32, buf, n, mac);
    cookie_frame[0] = PROTO_VERSION;
    cookie_frame[1] = K_COOKIE;
    put_u32(cookie_frame + 2, t);
    memcpy(cookie_frame + 6, mac, 12);
  }
  st_check("Cookie", cookie_frame, COOKIE_LEN,
           "01 02 65 53 f1 00 22 9c 5a dd 00 e1 39 31 d5 2f\n"
           "a4 3f");

  uint8_t hello2[HELLO_LEN];
  build_hello(hello2, psk, id, nc, 1024, cookie_frame + 2);
  st_check("second Hello", hello2, HELLO_LEN,
           "01 01 00 00 00 00 00 00 00 2a 11 11 11 11 11 11\n"
           "11 11 11 11 11 11 11 11 11 11 04 00 65 53 f1 00\n"
           "22 9c 5a dd 00 e1 39 31 d5 2f a4 3f b6 b5 69 32\n"
           "26 ea 1d 7d 6d 61 4f f6 5d ef 13 5c");

  derive_keys(psk, id, sid, nc, ns, k_d2g, k_g2d);
  st_check("K_d2g", k_d2g, 32,
           "46 bb 55 10 84 6b 4a 6e 55 7b ec 18 77 4b 1e 61\n"
           "21 6f b3 7c fb dd 43 9d ff e6 f1 83 45 24 02 2b");
  st_check("K_g2d", k_g2d, 32,
           "35 90 d3 b9 75 50 2a 99 c0 04 19 f7 0b 5a 82 7d\n"
           "80 ac cf f2 31 02 b5 d8 9f 8d b8 12 43 d3 df 2a");

  /* Build the Welcome as the gateway would, then open the document's one. */
  {
    const char *welcome_hex =
        "01 03 01 02 03 04 a0 a0 a0 a0 a0 a0 a0 a0 a0 a0\n"
        "a0 a0 a0 a0 a0 a0 20 32 87 1f 72 76 77 28 e3 af\n"
        "1b f2 87 c8 22 27 58 f5 18 3c 76 2c";
    uint8_t w[64], body[16], nonce[12] = {0}, aad[38];
    mpw bw = {body, 0, sizeof body, 0};
    mpw_array(&bw, 3); mpw_uint(&bw, 1024); mpw_uint(&bw, 30); mpw_uint(&bw, 7);
    w[0] = PROTO_VERSION; w[1] = K_WELCOME;
    put_u32(w + 2, sid);
    memcpy(w + 6, ns, 16);
    memcpy(aad, w, 22); memcpy(aad + 22, nc, 16);
    aead_seal(k_g2d, nonce, aad, sizeof aad, body, bw.n, w + 22);
    st_check("Welcome (sealed by us)", w, 22 + bw.n + 16, welcome_hex);
    uint8_t doc[64];
    int n = from_hex(welcome_hex, doc, sizeof doc);
    uint32_t mf, ka, gw;
    if (open_welcome(doc, (size_t)n, k_g2d, nc, &mf, &ka, &gw) == 0 &&
        mf == 1024 && ka == 30 && gw == 7 && get_u32(doc + 2) == sid) {
      printf("SELFTEST ok Welcome opens to [1024, 30, 7]\n");
    } else {
      st_fail = 1;
      printf("SELFTEST FAIL Welcome does not open to [1024, 30, 7]\n");
    }
  }

  /* Message plaintexts. */
  uint8_t sub[64], pub[64], btn[64], sens[64], ack[16], ping[4];
  mpw w1 = {sub, 0, sizeof sub, 0};
  mpw_array(&w1, 3); mpw_uint(&w1, M_SUBSCRIBE); mpw_uint(&w1, 1); mpw_str(&w1, "home/light", 10);
  st_check("Subscribe plaintext", sub, w1.n, "93 01 01 aa 68 6f 6d 65 2f 6c 69 67 68 74");
  mpw w2 = {pub, 0, sizeof pub, 0};
  mpw_array(&w2, 5); mpw_uint(&w2, M_PUBLISH); mpw_uint(&w2, 2); mpw_uint(&w2, 1);
  mpw_str(&w2, "home/light", 10); mpw_bin(&w2, (const uint8_t *)"on", 2);
  st_check("Publish plaintext", pub, w2.n,
           "95 05 02 01 aa 68 6f 6d 65 2f 6c 69 67 68 74 c4\n02 6f 6e");
  mpw w3 = {btn, 0, sizeof btn, 0};
  mpw_array(&w3, 5); mpw_uint(&w3, M_BUTTON); mpw_uint(&w3, 3); mpw_uint(&w3, 1);
  mpw_uint(&w3, 1); mpw_nil(&w3);
  st_check("ButtonPress plaintext", btn, w3.n, "95 0b 03 01 01 c0");
  mpw w4 = {sens, 0, sizeof sens, 0};
  mpw_array(&w4, 6); mpw_uint(&w4, M_SENSOR); mpw_uint(&w4, 4); mpw_str(&w4, "temp", 4);
  mpw_uint(&w4, 0); mpw_f32(&w4, 21.5f); mpw_nil(&w4);
  st_check("SensorUpdate plaintext", sens, w4.n, "96 0c 04 a4 74 65 6d 70 00 ca 41 ac 00 00 c0");
  mpw w5 = {ack, 0, sizeof ack, 0};
  mpw_array(&w5, 3); mpw_uint(&w5, M_ACK); mpw_uint(&w5, 2); mpw_uint(&w5, 0);
  st_check("Ack plaintext", ack, w5.n, "93 07 02 00");
  mpw w6 = {ping, 0, sizeof ping, 0};
  mpw_array(&w6, 1); mpw_uint(&w6, M_PING);
  st_check("Ping plaintext", ping, w6.n, "91 0e");

  /* Every plaintext must also decode back with our reader. */
  {
    const uint8_t *ps[] = {sub, pub, btn, sens, ack, ping};
    size_t ls[] = {w1.n, w2.n, w3.n, w4.n, w5.n, w6.n};
    mpv f[MAX_FIELDS];
    unsigned cnt;
    int ok = 1;
    for (int i = 0; i < 6; i++) ok &= decode_message(ps[i], ls[i], f, &cnt) == 0;
    ok &= decode_message(sens, w4.n, f, &cnt) == 0 && cnt == 6 && f[4].t == V_F32 && f[4].f == 21.5;
    printf("SELFTEST %s plaintexts decode\n", ok ? "ok" : "FAIL");
    if (!ok) st_fail = 1;
  }

  size_t n = seal_frame(buf, sid, 1, k_d2g, sub, w1.n);
  st_check("first sealed frame (Subscribe, seq 1)", buf, n,
           "01 10 01 02 03 04 00 00 00 01 c4 e0 03 bf bd fc\n"
           "48 45 06 21 12 9b 8c c2 32 a6 4a 0b 9d bf e7 98\n"
           "dd fe be 3c 3f 22 60 4b");
  n = seal_frame(buf, sid, 2, k_d2g, sens, w4.n);
  st_check("second sealed frame (SensorUpdate, seq 2)", buf, n,
           "01 10 01 02 03 04 00 00 00 02 d6 80 30 d2 b6 ca\n"
           "22 49 91 c3 31 7c 41 9b 0e 81 37 5d 9a 1a 01 b8\n"
           "a4 6c 1e 44 16 f5 79 b3 bc");
  {
    uint8_t nonce[12] = {0}, pt[64];
    put_u32(nonce + 8, 2);
    int ok = aead_open(k_d2g, nonce, buf, 10, buf + 10, n - 10, pt) == 0 &&
             memcmp(pt, sens, w4.n) == 0;
    buf[12] ^= 1; /* a flipped ciphertext bit must not verify */
    ok &= aead_open(k_d2g, nonce, buf, 10, buf + 10, n - 10, pt) != 0;
    printf("SELFTEST %s sealed frame opens, forgery refused\n", ok ? "ok" : "FAIL");
    if (!ok) st_fail = 1;
  }

  /* A bundle (section 4.6): two SensorUpdates back to back, seq 3. */
  {
    uint8_t bp[64], p[80];
    mpw wb = {bp, 0, sizeof bp, 0};
    mpw_array(&wb, 6); mpw_uint(&wb, M_SENSOR); mpw_uint(&wb, 5); mpw_str(&wb, "temp", 4);
    mpw_uint(&wb, 0); mpw_f32(&wb, 21.75f); mpw_nil(&wb);
    mpw_array(&wb, 6); mpw_uint(&wb, M_SENSOR); mpw_uint(&wb, 6); mpw_str(&wb, "bat", 3);
    mpw_uint(&wb, 2); mpw_uint(&wb, 87); mpw_nil(&wb);
    st_check("bundle plaintext (two SensorUpdates)", bp, wb.n,
             "96 0c 05 a4 74 65 6d 70 00 ca 41 ae 00 00 c0 96\n"
             "0c 06 a3 62 61 74 02 57 c0");
    n = seal_frame(buf, sid, 3, k_d2g, bp, wb.n);
    st_check("bundled sealed frame (two SensorUpdates, seq 3)", buf, n,
             "01 10 01 02 03 04 00 00 00 03 1a 53 e5 fc 43 1e\n"
             "91 c9 39 36 40 29 ea b1 a8 06 15 33 d0 0b 48 10\n"
             "44 bf 60 51 13 74 bf f2 f9 8f b6 9d fb aa d0 b0\n"
             "cf 87 5d");

    /* The rules: 1..32 messages, checked before any is handled; a bad one,
     * none, or 33 make the whole frame malformed. */
    int ok = count_messages(bp, wb.n) == 2;
    for (int i = 0; i < 33; i++) { p[2 * i] = 0x91; p[2 * i + 1] = M_PING; }
    ok &= count_messages(p, 64) == 32;  /* 32 Pings */
    ok &= count_messages(p, 66) == -1;  /* 33 */
    ok &= count_messages(p, 0) == -1;   /* none */
    ok &= count_messages(p, 3) == -1;   /* the second cut short */
    memcpy(p, bp, wb.n);
    p[wb.n] = 0xc1;                     /* a stray byte after the last */
    ok &= count_messages(p, wb.n + 1) == -1;
    const uint8_t bad_second[] = {0x91, 0x0e, 0x92, 0x07, 0x05, 0x91, 0x0e}; /* Ack of 2 */
    ok &= count_messages(bad_second, sizeof bad_second) == -1;
    const uint8_t unknown_type[] = {0x91, 0x0e, 0x91, 0x13}; /* type 19 */
    ok &= count_messages(unknown_type, sizeof unknown_type) == -1;
    const uint8_t bad_utf8[] = {0x93, 0x01, 0x01, 0xa2, 0xc0, 0xaf}; /* overlong "/" */
    ok &= count_messages(bad_utf8, sizeof bad_utf8) == -1;
    printf("SELFTEST %s bundle rules (1..32 messages, all or nothing)\n", ok ? "ok" : "FAIL");
    if (!ok) st_fail = 1;
  }

  /* The gateway's answer: two Acks in its first sealed frame (seq 1). */
  {
    uint8_t fr[64], pt[64], nonce[12] = {0};
    int fn = from_hex("01 10 01 02 03 04 00 00 00 01 ce 38 07 f7 5c 01\n"
                      "5a 95 05 10 82 d7 e2 32 26 78 13 f2 4e 3f 82 bf\n"
                      "96 70", fr, sizeof fr);
    size_t ptn = fn > SEALED_OVERHEAD ? (size_t)fn - SEALED_OVERHEAD : 0, off = 0;
    put_u32(nonce + 8, get_u32(fr + 6));
    int ok = ptn > 0 && get_u32(fr + 6) == 1 &&
             aead_open(k_g2d, nonce, fr, 10, fr + 10, (size_t)fn - 10, pt) == 0 &&
             count_messages(pt, ptn) == 2;
    for (unsigned i = 0; ok && i < 2; i++) {
      mpv f[MAX_FIELDS];
      unsigned cnt;
      ok = decode_one(pt, ptn, &off, f, &cnt) == 0 && cnt == 3 && f[0].u == M_ACK &&
           f[1].u == 5 + i && f[2].u == 0;
    }
    ok = ok && off == ptn;
    printf("SELFTEST %s bundled Acks frame (seq 1) opens to Ack 5, Ack 6\n", ok ? "ok" : "FAIL");
    if (!ok) st_fail = 1;
  }

  uint8_t rej[REJECT_LEN] = {PROTO_VERSION, K_REJECT, E_UNKNOWN_SESSION};
  put_u32(rej + 3, sid);
  st_check("Reject unknown session", rej, REJECT_LEN, "01 04 02 01 02 03 04");

  uint8_t sg[18] = {PROTO_VERSION, K_SEARCHGW};
  memset(sg + 2, 0x33, 8);
  st_check("SearchGw", sg, 18, "01 05 33 33 33 33 33 33 33 33 00 00 00 00 00 00\n00 00");
  uint8_t gi[16] = {PROTO_VERSION, K_GWINFO};
  memcpy(gi + 2, sg + 2, 8);
  put_u16(gi + 10, 8888);
  put_u32(gi + 12, 7);
  st_check("GwInfo", gi, 16, "01 06 33 33 33 33 33 33 33 33 22 b8 00 00 00 07");

  printf(st_fail ? "SELFTEST FAIL\n" : "SELFTEST PASS\n");
  return st_fail ? 1 : 0;
}

/* ------------------------------------------------------------ session */

static int sock = -1;
static struct sockaddr_storage gw_addr;
static socklen_t gw_addr_len;
static uint8_t psk[32];
static uint64_t device_id;

static uint32_t sid, tx_seq, rx_high;
static uint64_t rx_bits;
static uint8_t k_d2g[32], k_g2d[32];
static uint32_t max_frame = MAX_FRAME_ASKED, keepalive_s = 30, gateway_id;
static uint64_t last_sent_ms, last_heard_ms;
static uint16_t next_msg_id;

/* Acknowledged ids of received messages (the last 32, this session). */
static uint16_t acked_ids[32];
static uint8_t acked_codes[32];
static unsigned acked_n, acked_pos;

/* Topic aliases the gateway registered with us (per session). */
#define MAX_ALIASES 16
static struct { uint16_t alias; char topic[256]; } aliases[MAX_ALIASES];
static unsigned alias_n;

/* The messages waiting for their answers (sent together, in one frame), and
 * what answered each: code -1 until then. Their bytes are kept, to be
 * retransmitted unchanged. */
#define MAX_PENDING 4
static struct {
  uint8_t pt[600];
  size_t len;
  int answer_type; /* M_ACK / M_SUBACK / M_PONG */
  uint16_t id;
  int code;
} pend[MAX_PENDING];
static unsigned pend_n;

/* Messages ready now, packed into the next frame (section 4.6). */
static uint8_t outbox[1472];
static size_t outbox_len;
static unsigned outbox_n;

/* The message received on the subscribed topic. */
static char sub_topic[256];
static int got_message;

static void udp_send(const uint8_t *p, size_t n) {
  if (sendto(sock, p, n, 0, (struct sockaddr *)&gw_addr, gw_addr_len) < 0)
    die("sendto: %s", strerror(errno));
  last_sent_ms = now_ms();
}

/* Waits up to ms for a datagram from the gateway; returns its length or 0. */
static size_t udp_recv(uint8_t *buf, size_t cap, uint64_t deadline) {
  for (;;) {
    uint64_t now = now_ms();
    if (now >= deadline) return 0;
    struct pollfd pfd = {sock, POLLIN, 0};
    int r = poll(&pfd, 1, (int)(deadline - now));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) die("poll: %s", strerror(errno));
    if (r == 0) return 0;
    struct sockaddr_storage from;
    socklen_t fl = sizeof from;
    ssize_t n = recvfrom(sock, buf, cap, 0, (struct sockaddr *)&from, &fl);
    if (n < 0) {
      if (errno == EINTR || errno == ECONNREFUSED) continue;
      die("recvfrom: %s", strerror(errno));
    }
    if (n > (ssize_t)max_frame) continue; /* too large: drop */
    if (n < 2 || buf[0] != PROTO_VERSION) continue;
    return (size_t)n;
  }
}

static uint16_t new_msg_id(void) {
  if (++next_msg_id == 0) next_msg_id = 1; /* 65535 wraps to 1 */
  return next_msg_id;
}

/* Seals what the outbox holds into one Sealed frame and sends it. */
static void flush_outbox(void) {
  uint8_t frame[1472];
  if (outbox_n == 0) return;
  if (tx_seq == 0xffffffffu) die("send counter exhausted: a new handshake is needed");
  size_t n = seal_frame(frame, sid, ++tx_seq, k_d2g, outbox, outbox_len);
  if (outbox_n > 1) printf("BUNDLE sent messages=%u\n", outbox_n);
  outbox_len = 0;
  outbox_n = 0;
  udp_send(frame, n);
}

/* Appends a message to the next frame; a full frame (max frame, or 32
 * messages) leaves first. Nothing waits: the caller flushes as soon as what
 * is ready now is queued. */
static void queue_message(const uint8_t *pt, size_t ptlen) {
  if (ptlen + SEALED_OVERHEAD > max_frame) die("message too large (%zu bytes)", ptlen);
  if (outbox_n == MAX_MESSAGES || outbox_len + ptlen + SEALED_OVERHEAD > max_frame)
    flush_outbox();
  memcpy(outbox + outbox_len, pt, ptlen);
  outbox_len += ptlen;
  outbox_n++;
}

/* Sends a message now (with whatever the outbox already holds). */
static void send_message(const uint8_t *pt, size_t ptlen) {
  queue_message(pt, ptlen);
  flush_outbox();
}

static void queue_simple(int type) {
  uint8_t b[4];
  mpw w = {b, 0, sizeof b, 0};
  mpw_array(&w, 1);
  mpw_uint(&w, (uint64_t)type);
  queue_message(b, w.n);
}

static void queue_ack(uint16_t id, uint8_t code) {
  uint8_t b[16];
  mpw w = {b, 0, sizeof b, 0};
  mpw_array(&w, 3); mpw_uint(&w, M_ACK); mpw_uint(&w, id); mpw_uint(&w, code);
  queue_message(b, w.n);
}

static int acked_find(uint16_t id) {
  for (unsigned i = 0; i < acked_n; i++) if (acked_ids[i] == id) return (int)i;
  return -1;
}
static void acked_add(uint16_t id, uint8_t code) {
  acked_ids[acked_pos] = id;
  acked_codes[acked_pos] = code;
  acked_pos = (acked_pos + 1) % 32;
  if (acked_n < 32) acked_n++;
}

static int valid_str(const mpv *v, size_t max) { return v->t == V_STR && v->len <= max; }

/* Handles one decoded, checked message from the gateway. Answers are queued
 * (the caller sends them, bundled, after the frame's last message). */
static void handle_message(const mpv *f, unsigned cnt) {
  uint64_t type = f[0].u;
  switch (type) {
  case M_PING:
    if (cnt != 1) return;
    queue_simple(M_PONG);
    printf("PING answered\n");
    return;
  case M_PONG:
    if (cnt != 1) return;
    for (unsigned i = 0; i < pend_n; i++)
      if (pend[i].answer_type == M_PONG && pend[i].code < 0) { pend[i].code = 0; break; }
    return;
  case M_ACK: case M_SUBACK: case M_UNSUBACK:
    if (cnt != 3 || f[1].t != V_UINT || f[2].t != V_UINT || f[2].u > 255) return;
    for (unsigned i = 0; i < pend_n; i++)
      if (pend[i].answer_type == (int)type && pend[i].id == f[1].u && pend[i].code < 0)
        pend[i].code = (int)f[2].u;
    return;
  case M_REGISTER: {
    if (cnt != 4 || f[1].t != V_UINT || f[2].t != V_UINT || f[2].u < 1 ||
        f[2].u > 0xffff || !valid_str(&f[3], 255) || f[1].u > 0xffff) return;
    uint8_t code = E_OK;
    unsigned i;
    for (i = 0; i < alias_n && aliases[i].alias != f[2].u; i++) {}
    if (i == alias_n && alias_n == MAX_ALIASES) code = E_LIMIT_REACHED;
    else {
      if (i == alias_n) alias_n++;
      aliases[i].alias = (uint16_t)f[2].u;
      memcpy(aliases[i].topic, f[3].p, f[3].len);
      aliases[i].topic[f[3].len] = 0;
    }
    uint8_t b[16];
    mpw w = {b, 0, sizeof b, 0};
    mpw_array(&w, 4); mpw_uint(&w, M_REGACK); mpw_uint(&w, f[1].u);
    mpw_uint(&w, f[2].u); mpw_uint(&w, code);
    queue_message(b, w.n);
    return;
  }
  case M_MESSAGE: {
    if (cnt != 5 || f[1].t != V_UINT || f[1].u > 0xffff || f[2].t != V_UINT ||
        f[2].u > 1 || f[4].t != V_BIN) return;
    uint16_t id = (uint16_t)f[1].u;
    int qos = (int)f[2].u;
    char topic[256];
    if (valid_str(&f[3], 255)) {
      memcpy(topic, f[3].p, f[3].len);
      topic[f[3].len] = 0;
    } else if (f[3].t == V_UINT && f[3].u >= 1 && f[3].u <= 0xffff) {
      unsigned i;
      for (i = 0; i < alias_n && aliases[i].alias != f[3].u; i++) {}
      if (i == alias_n) {
        if (qos == 1 && id != 0) queue_ack(id, E_UNKNOWN_ALIAS);
        return;
      }
      strcpy(topic, aliases[i].topic);
    } else return;
    if (qos == 1 && id != 0) {
      int k = acked_find(id);
      if (k >= 0) { queue_ack(id, acked_codes[k]); return; } /* duplicate */
      acked_add(id, E_OK);
      queue_ack(id, E_OK);
    }
    printf("MESSAGE qos=%d topic=%s data=", qos, topic);
    print_hex(stdout, f[4].p, f[4].len);
    printf("\n");
    if (strcmp(topic, sub_topic) == 0) got_message = 1;
    return;
  }
  case M_ERROR:
    if (cnt == 4 && f[1].t == V_UINT && f[3].t == V_STR)
      fprintf(stderr, "avi_client: gateway Error %s: %.*s\n",
              error_name((unsigned)f[1].u), (int)f[3].len, (const char *)f[3].p);
    return;
  default:
    return; /* streams etc.: not used by this client */
  }
}

static int handshake(void);

/* Reads frames until deadline; dispatches messages. Returns 1 if the session
 * was lost (Reject unknown session with our id). */
static int pump(uint64_t deadline) {
  uint8_t buf[1500], pt[1500];
  size_t n = udp_recv(buf, sizeof buf, deadline);
  if (n == 0) return 0;
  if (buf[1] == K_REJECT && n == REJECT_LEN) {
    if (buf[2] == E_UNKNOWN_SESSION && get_u32(buf + 3) == sid) return 1;
    return 0;
  }
  if (buf[1] != K_SEALED || n < SEALED_OVERHEAD) return 0;
  if (get_u32(buf + 2) != sid) return 0;
  uint32_t seq = get_u32(buf + 6);
  /* Replay window: 64 entries, checked before decryption. */
  if (seq == 0) return 0;
  if (rx_high >= 64 && seq <= rx_high - 64) return 0;
  if (seq <= rx_high && (rx_bits >> (rx_high - seq) & 1)) return 0;
  uint8_t nonce[12] = {0};
  put_u32(nonce + 8, seq);
  if (aead_open(k_g2d, nonce, buf, 10, buf + 10, n - 10, pt)) return 0;
  if (seq > rx_high) {
    uint32_t shift = seq - rx_high;
    rx_bits = shift >= 64 ? 0 : rx_bits << shift;
    rx_bits |= 1;
    rx_high = seq;
  } else {
    rx_bits |= (uint64_t)1 << (rx_high - seq);
  }
  last_heard_ms = now_ms();
  /* One or more messages back to back (section 4.6): all are checked before
   * any is handled; one bad message, none, or more than 32 drop the frame
   * (its sequence number stays used). */
  size_t ptlen = n - SEALED_OVERHEAD, off = 0;
  int k = count_messages(pt, ptlen);
  if (k < 0) {
    printf("DROP malformed frame seq=%u\n", seq);
    return 0;
  }
  if (k > 1) printf("BUNDLE received messages=%d\n", k);
  for (int i = 0; i < k; i++) {
    mpv f[MAX_FIELDS];
    unsigned cnt;
    if (decode_one(pt, ptlen, &off, f, &cnt)) die("pass 2 disagrees with pass 1");
    handle_message(f, cnt);
  }
  flush_outbox(); /* the answers to this frame, together */
  return 0;
}

/* Hello -> Cookie -> Hello -> Welcome. Returns 0 or exits with the reason. */
static int handshake(void) {
  uint8_t nonce[16], cookie[16] = {0}, hello[HELLO_LEN], buf[1500];
  int have_cookie = 0, attempts = 1;
  uint64_t backoff = 1000, deadline = now_ms() + 10000;
  random_bytes(nonce, 16);
  build_hello(hello, psk, device_id, nonce, MAX_FRAME_ASKED, cookie);
  udp_send(hello, HELLO_LEN);
  uint64_t next = now_ms() + backoff;
  for (;;) {
    uint64_t now = now_ms();
    if (now >= deadline) die("no gateway answered");
    size_t n = udp_recv(buf, sizeof buf, next < deadline ? next : deadline);
    if (n == 0) {
      if (now_ms() < next) continue;
      if (attempts >= 4 && have_cookie) { /* it may have expired */
        memset(cookie, 0, 16);
        have_cookie = 0;
        attempts = 0;
        build_hello(hello, psk, device_id, nonce, MAX_FRAME_ASKED, cookie);
      }
      attempts++;
      backoff = backoff * 2 > 8000 ? 8000 : backoff * 2;
      udp_send(hello, HELLO_LEN);
      next = now_ms() + backoff;
      continue;
    }
    if (buf[1] == K_COOKIE && n == COOKIE_LEN) {
      memcpy(cookie, buf + 2, 16);
      have_cookie = 1;
      attempts = 1;
      backoff = 1000;
      build_hello(hello, psk, device_id, nonce, MAX_FRAME_ASKED, cookie);
      udp_send(hello, HELLO_LEN);
      next = now_ms() + backoff;
    } else if (buf[1] == K_REJECT && n == REJECT_LEN) {
      unsigned code = buf[2];
      if (code == E_NOT_AUTHORISED || code == E_UNSUPPORTED_VERSION) {
        printf("REJECT code=%u\n", code);
        die("handshake refused: Reject %s (code %u)", error_name(code), code);
      }
      if (code == E_REPLAYED) { /* restart with a fresh nonce */
        random_bytes(nonce, 16);
        build_hello(hello, psk, device_id, nonce, MAX_FRAME_ASKED, cookie);
        udp_send(hello, HELLO_LEN);
        next = now_ms() + backoff;
      }
    } else if (buf[1] == K_WELCOME && n >= 22 + 16) {
      uint32_t s = get_u32(buf + 2);
      uint8_t kd[32], kg[32];
      if (s == 0) continue;
      derive_keys(psk, device_id, s, nonce, buf + 6, kd, kg);
      uint32_t mf, ka, gw;
      if (open_welcome(buf, n, kg, nonce, &mf, &ka, &gw)) continue; /* forged */
      sid = s;
      memcpy(k_d2g, kd, 32);
      memcpy(k_g2d, kg, 32);
      max_frame = mf < MAX_FRAME_ASKED ? mf : MAX_FRAME_ASKED;
      keepalive_s = ka;
      gateway_id = gw;
      tx_seq = 0;
      outbox_len = outbox_n = 0; /* answers meant for the old session */
      rx_high = 0; /* the Welcome was sequence 0 of the gateway direction */
      rx_bits = 1;
      acked_n = acked_pos = 0;
      alias_n = 0;
      last_heard_ms = now_ms();
      printf("WELCOME sid=%08x max_frame=%u keepalive=%u gateway=%u\n", sid,
             max_frame, keepalive_s, gateway_id);
      return 0;
    }
  }
}

/* Adds a message that expects an answer of answer_type with msgId id. */
static void pend_add(const uint8_t *pt, size_t ptlen, int answer_type, uint16_t id) {
  if (pend_n == MAX_PENDING || ptlen > sizeof pend[0].pt) die("too many pending messages");
  memcpy(pend[pend_n].pt, pt, ptlen);
  pend[pend_n].len = ptlen;
  pend[pend_n].answer_type = answer_type;
  pend[pend_n].id = id;
  pend[pend_n].code = -1;
  pend_n++;
}

static int pend_left(void) {
  unsigned left = 0;
  for (unsigned i = 0; i < pend_n; i++) left += pend[i].code < 0;
  return left > 0;
}

/* (Re)transmits every unanswered pending message, together: one frame while
 * they fit (a bundle when there are several), same bytes every time. */
static void pend_transmit(void) {
  for (unsigned i = 0; i < pend_n; i++)
    if (pend[i].code < 0) queue_message(pend[i].pt, pend[i].len);
  flush_outbox();
}

/* Sends the pending messages and awaits all their answers, retransmitting
 * the unanswered ones after 1 s, 2 s, 4 s, 8 s, 8 s, ... */
static void request_all(const char *what) {
  uint64_t backoff = 1000, deadline = now_ms() + 30000;
  pend_transmit();
  uint64_t next = now_ms() + backoff;
  while (pend_left()) {
    if (now_ms() >= deadline) die("no answer to %s", what);
    if (pump(next < deadline ? next : deadline)) {
      fprintf(stderr, "avi_client: session lost, handshaking again\n");
      handshake();
      if (sub_topic[0]) { /* subscribe again; its answer is not awaited */
        uint8_t b[300];
        mpw w = {b, 0, sizeof b, 0};
        mpw_array(&w, 3); mpw_uint(&w, M_SUBSCRIBE); mpw_uint(&w, new_msg_id());
        mpw_str(&w, sub_topic, strlen(sub_topic));
        queue_message(b, w.n); /* leaves with the retransmissions below */
      }
      next = 0;
    }
    if (pend_left() && now_ms() >= next) {
      if (next != 0) backoff = backoff * 2 > 8000 ? 8000 : backoff * 2;
      pend_transmit(); /* same msgIds and bytes, new Sealed frame */
      next = now_ms() + backoff;
    }
  }
}

/* One message awaiting its answer; returns the answer's code. */
static int request(const uint8_t *pt, size_t ptlen, int answer_type, uint16_t id,
                   const char *what) {
  pend_n = 0;
  pend_add(pt, ptlen, answer_type, id);
  request_all(what);
  return pend[0].code;
}

static void expect_ok(int code, const char *what) {
  if (code != 0) die("%s refused: %s (code %d)", what, error_name((unsigned)code), code);
}

static void disconnect(void) {
  uint8_t b[4];
  mpw w = {b, 0, sizeof b, 0};
  mpw_array(&w, 2); mpw_uint(&w, M_DISCONNECT); mpw_uint(&w, 0);
  send_message(b, w.n);
}

static int run(const char *topic) {
  uint8_t b[600];
  char dev_topic[300];
  int code;
  handshake();

  /* Subscribe. */
  if (strlen(topic) > 255) die("topic too long");
  uint16_t id = new_msg_id();
  mpw w = {b, 0, sizeof b, 0};
  mpw_array(&w, 3); mpw_uint(&w, M_SUBSCRIBE); mpw_uint(&w, id);
  mpw_str(&w, topic, strlen(topic));
  code = request(b, w.n, M_SUBACK, id, "Subscribe");
  printf("SUBACK code=%d\n", code);
  expect_ok(code, "Subscribe");
  strcpy(sub_topic, topic);

  /* Publish, QoS 1. */
  snprintf(dev_topic, sizeof dev_topic, "device/%llu/data", (unsigned long long)device_id);
  const char *payload = "hello from C";
  id = new_msg_id();
  w = (mpw){b, 0, sizeof b, 0};
  mpw_array(&w, 5); mpw_uint(&w, M_PUBLISH); mpw_uint(&w, id); mpw_uint(&w, 1);
  mpw_str(&w, dev_topic, strlen(dev_topic));
  mpw_bin(&w, (const uint8_t *)payload, strlen(payload));
  code = request(b, w.n, M_ACK, id, "Publish");
  printf("ACK publish code=%d\n", code);
  expect_ok(code, "Publish");

  /* SensorUpdate: temperature 21.5 °C. */
  id = new_msg_id();
  w = (mpw){b, 0, sizeof b, 0};
  mpw_array(&w, 6); mpw_uint(&w, M_SENSOR); mpw_uint(&w, id); mpw_str(&w, "temp", 4);
  mpw_uint(&w, 0); mpw_f32(&w, 21.5f); mpw_nil(&w);
  code = request(b, w.n, M_ACK, id, "SensorUpdate");
  printf("ACK sensor code=%d\n", code);
  expect_ok(code, "SensorUpdate");

  /* ButtonPress: button 1, double, with custom JSON data. */
  const char *custom = "{\"room\":\"lab\"}";
  id = new_msg_id();
  w = (mpw){b, 0, sizeof b, 0};
  mpw_array(&w, 5); mpw_uint(&w, M_BUTTON); mpw_uint(&w, id); mpw_uint(&w, 1);
  mpw_uint(&w, 1); mpw_bin(&w, (const uint8_t *)custom, strlen(custom));
  code = request(b, w.n, M_ACK, id, "ButtonPress");
  printf("ACK button code=%d\n", code);
  expect_ok(code, "ButtonPress");

  /* Two SensorUpdates taken at the same moment: one frame (a bundle,
   * section 4.6), each acknowledged on its own. Humidity "hum" 40.5 %,
   * battery "bat" 87 %. */
  pend_n = 0;
  w = (mpw){b, 0, sizeof b, 0};
  id = new_msg_id();
  mpw_array(&w, 6); mpw_uint(&w, M_SENSOR); mpw_uint(&w, id); mpw_str(&w, "hum", 3);
  mpw_uint(&w, 1); mpw_f32(&w, 40.5f); mpw_nil(&w);
  pend_add(b, w.n, M_ACK, id);
  w = (mpw){b, 0, sizeof b, 0};
  id = new_msg_id();
  mpw_array(&w, 6); mpw_uint(&w, M_SENSOR); mpw_uint(&w, id); mpw_str(&w, "bat", 3);
  mpw_uint(&w, 2); mpw_uint(&w, 87); mpw_nil(&w);
  pend_add(b, w.n, M_ACK, id);
  request_all("bundled SensorUpdates");
  printf("ACK bundle hum=%d bat=%d\n", pend[0].code, pend[1].code);
  expect_ok(pend[0].code, "SensorUpdate hum");
  expect_ok(pend[1].code, "SensorUpdate bat");
  /* The same bundle once more, as if both Acks had been lost: duplicates
   * (section 4.1), acknowledged again and not delivered again. */
  pend[0].code = pend[1].code = -1;
  request_all("bundled SensorUpdates, again");
  printf("ACK bundle again hum=%d bat=%d\n", pend[0].code, pend[1].code);
  expect_ok(pend[0].code, "SensorUpdate hum, again");
  expect_ok(pend[1].code, "SensorUpdate bat, again");

  /* Ping, awaiting Pong. */
  w = (mpw){b, 0, sizeof b, 0};
  mpw_array(&w, 1); mpw_uint(&w, M_PING);
  request(b, w.n, M_PONG, 0, "Ping");
  printf("PONG\n");

  /* Wait for a Message on the subscribed topic. */
  printf("READY\n");
  uint64_t deadline = now_ms() + 40000;
  while (!got_message) {
    uint64_t now = now_ms();
    if (now >= deadline) die("no Message on %s", topic);
    uint64_t ka_due = last_sent_ms + (uint64_t)keepalive_s * 1000;
    if (now >= ka_due) { queue_simple(M_PING); flush_outbox(); continue; } /* keep-alive */
    uint64_t until = ka_due < deadline ? ka_due : deadline;
    if (pump(until)) {
      fprintf(stderr, "avi_client: session lost, handshaking again\n");
      handshake();
      id = new_msg_id();
      w = (mpw){b, 0, sizeof b, 0};
      mpw_array(&w, 3); mpw_uint(&w, M_SUBSCRIBE); mpw_uint(&w, id);
      mpw_str(&w, topic, strlen(topic));
      expect_ok(request(b, w.n, M_SUBACK, id, "Subscribe"), "Subscribe");
    }
  }
  disconnect();
  printf("DONE\n");
  return 0;
}

int main(int argc, char **argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (argc == 2 && strcmp(argv[1], "selftest") == 0) return selftest();
  if (argc < 6) {
    fprintf(stderr,
            "usage: avi_client selftest\n"
            "       avi_client HOST PORT DEVICE_ID KEY_HEX64 selftest|handshake|run [TOPIC]\n");
    return 2;
  }
  const char *mode = argv[5];
  if (strcmp(mode, "selftest") == 0) return selftest();

  char *end;
  errno = 0;
  unsigned long long idv = strtoull(argv[3], &end, 10);
  if (errno || *end || idv > 9007199254740991ull) die("bad device id: %s", argv[3]);
  device_id = idv;
  if (strlen(argv[4]) != 64 || from_hex(argv[4], psk, sizeof psk) != 32)
    die("the key must be 64 hex characters");

  struct addrinfo hints = {0}, *ai;
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_DGRAM;
  int rc = getaddrinfo(argv[1], argv[2], &hints, &ai);
  if (rc) die("cannot resolve %s:%s: %s", argv[1], argv[2], gai_strerror(rc));
  memcpy(&gw_addr, ai->ai_addr, ai->ai_addrlen);
  gw_addr_len = ai->ai_addrlen;
  sock = socket(ai->ai_family, SOCK_DGRAM, 0);
  freeaddrinfo(ai);
  if (sock < 0) die("socket: %s", strerror(errno));

  uint8_t r[2];
  random_bytes(r, 2); /* msgIds start at a random value */
  next_msg_id = (uint16_t)(r[0] << 8 | r[1]);

  if (strcmp(mode, "handshake") == 0) {
    handshake();
    disconnect();
    printf("DONE\n");
    return 0;
  }
  if (strcmp(mode, "run") == 0) {
    if (argc < 7) die("run needs a TOPIC");
    return run(argv[6]);
  }
  die("unknown mode %s", mode);
  return 2;
}
