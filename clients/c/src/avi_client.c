/*
 * avi_client.c: the device side of the @avi/p2p device protocol, version 1
 * (docs/PROTOCOL.md). See avi_client.h for the API and the memory budget.
 *
 * Layout of this file: bytes and MessagePack; the reader of received
 * messages (every message is checked before any is handled, section 4.6);
 * the low-level frame functions; the topic store (subscriptions, aliases);
 * the pending store (unacknowledged messages, their bytes kept to be
 * retransmitted unchanged, section 4.1); the outbox (messages ready now,
 * sealed together into one frame); the handshake and discovery (section 3,
 * 5.1); received frames and messages; timers; the API.
 *
 * One file on purpose, past the house's 600 lines: a device build (ESP-IDF,
 * Arduino, a plain Makefile) adds one source file and one header, and the
 * compiler sees every static function at once (smaller code on a
 * microcontroller). The crypto and socket ports are in files of their own.
 */
#include "avi_client.h"

#include <float.h>
#include <string.h>

#define VERSION 0x01
#define K_HELLO 0x01
#define K_COOKIE 0x02
#define K_WELCOME 0x03
#define K_REJECT 0x04
#define K_SEARCHGW 0x05
#define K_GWINFO 0x06
#define K_SEALED 0x10

enum {
  M_SUBSCRIBE = 1, M_SUBACK = 2, M_UNSUBSCRIBE = 3, M_UNSUBACK = 4,
  M_PUBLISH = 5, M_MESSAGE = 6, M_ACK = 7, M_STREAM_START = 8,
  M_STREAM_DATA = 9, M_STREAM_CLOSE = 10, M_BUTTON = 11, M_SENSOR = 12,
  M_ERROR = 13, M_PING = 14, M_PONG = 15, M_REGISTER = 16, M_REGACK = 17,
  M_DISCONNECT = 18
};

#define MAX_MESSAGES 32 /* per Sealed frame */
#define SEND_WINDOW 16
#define DEDUP 32

/* Topic store record kinds. */
enum { T_SUB = 1, T_UP_PENDING = 2, T_UP = 3, T_UP_REFUSED = 4, T_DOWN = 5 };
#define TB(k) (1u << (k))
#define T_UP_ANY (TB(T_UP_PENDING) | TB(T_UP) | TB(T_UP_REFUSED))

static const char LABEL_HELLO[] = "avi-p2p/1 hello";
static const char LABEL_KEYS[] = "avi-p2p/1 keys";

/* ---------------------------------------------------------------- bytes */

static void put16(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 8);
  p[1] = (uint8_t)v;
}
static void put32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
}
static uint32_t get16(const uint8_t *p) { return (uint32_t)p[0] << 8 | p[1]; }
static uint32_t get32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Wrap-around time comparison: a is before b. */
static int before(uint32_t a, uint32_t b) { return (int32_t)(a - b) < 0; }
static int reached(uint32_t now, uint32_t t) { return !before(now, t); }

/* Valid UTF-8 as docs/PROTOCOL.md 4 requires: no overlong forms, no
 * surrogates, nothing above U+10FFFF, no truncated sequence. */
static int utf8_ok(const uint8_t *p, size_t n) {
  size_t i = 0;
  while (i < n) {
    uint32_t a = p[i++], cp, k, j;
    if (a < 0x80) continue;
    if (a >= 0xc2 && a <= 0xdf) k = 1, cp = a & 0x1f;
    else if (a >= 0xe0 && a <= 0xef) k = 2, cp = a & 0x0f;
    else if (a >= 0xf0 && a <= 0xf4) k = 3, cp = a & 0x07;
    else return 0;
    if (n - i < k) return 0;
    for (j = 0; j < k; j++) {
      if ((p[i + j] & 0xc0) != 0x80) return 0;
      cp = cp << 6 | (p[i + j] & 0x3f);
    }
    i += k;
    if (k == 2 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) return 0;
    if (k == 3 && (cp < 0x10000 || cp > 0x10ffff)) return 0;
  }
  return 1;
}

/* A text argument: at most max bytes of valid UTF-8; its length or -1. */
static long text_len(const char *s, size_t max) {
  size_t n;
  if (!s) return -1;
  n = strlen(s);
  if (n > max || !utf8_ok((const uint8_t *)s, n)) return -1;
  return (long)n;
}

/* ---------------------------------------------------------- MessagePack */

/* A writer; b NULL only counts the bytes. */
typedef struct {
  uint8_t *b;
  size_t n, cap;
  int err;
} mpw;

static void w_raw(mpw *w, const void *p, size_t n) {
  if (n > w->cap - w->n) {
    w->err = 1;
    return;
  }
  if (w->b && n) memcpy(w->b + w->n, p, n);
  w->n += n;
}
static void w_byte(mpw *w, uint8_t v) { w_raw(w, &v, 1); }
static void w_uint(mpw *w, uint32_t v) {
  uint8_t t[5];
  if (v < 0x80) { w_byte(w, (uint8_t)v); return; }
  if (v <= 0xff) { t[0] = 0xcc; t[1] = (uint8_t)v; w_raw(w, t, 2); return; }
  if (v <= 0xffff) { t[0] = 0xcd; put16(t + 1, v); w_raw(w, t, 3); return; }
  t[0] = 0xce;
  put32(t + 1, v);
  w_raw(w, t, 5);
}
static void w_int(mpw *w, int32_t v) {
  uint8_t t[5];
  if (v >= 0) { w_uint(w, (uint32_t)v); return; }
  if (v >= -32) { w_byte(w, (uint8_t)(0xe0 | (v + 32))); return; }
  if (v >= -128) { t[0] = 0xd0; t[1] = (uint8_t)(v & 0xff); w_raw(w, t, 2); return; }
  if (v >= -32768) { t[0] = 0xd1; put16(t + 1, (uint32_t)v & 0xffff); w_raw(w, t, 3); return; }
  t[0] = 0xd2;
  put32(t + 1, (uint32_t)v);
  w_raw(w, t, 5);
}
static void w_str(mpw *w, const char *s, size_t n) { /* n <= 255 */
  if (n < 32) w_byte(w, (uint8_t)(0xa0 | n));
  else { w_byte(w, 0xd9); w_byte(w, (uint8_t)n); }
  w_raw(w, s, n);
}
static void w_bin(mpw *w, const uint8_t *p, size_t n) {
  uint8_t t[3];
  if (n <= 0xff) { t[0] = 0xc4; t[1] = (uint8_t)n; w_raw(w, t, 2); }
  else if (n <= 0xffff) { t[0] = 0xc5; put16(t + 1, (uint32_t)n); w_raw(w, t, 3); }
  else { w->err = 1; return; }
  w_raw(w, p, n);
}

/* An outgoing message, before encoding. */
typedef struct {
  uint8_t type;
  uint8_t a;      /* qos, button, stream, sensor kind, code */
  uint8_t b;      /* press, code */
  uint8_t has_d;  /* custom data present (else nil) */
  uint16_t id;    /* msgId */
  uint16_t alias; /* Publish: topic alias (0: the topic); Register, RegAck */
  uint32_t u;     /* StreamData seq, Disconnect seconds, sensor value bits */
  const char *s;  /* topic, name, target peer */
  size_t sn;
  const char *s2; /* reason */
  size_t s2n;
  const uint8_t *d; /* data, custom */
  size_t dn;
} msg_t;

/* Encodes m (b NULL: counts); returns the size, or 0 if it does not fit. */
static size_t encode(uint8_t *b, size_t cap, const msg_t *m) {
  mpw w;
  w.b = b;
  w.n = 0;
  w.cap = cap;
  w.err = 0;
  switch (m->type) {
  case M_SUBSCRIBE:
  case M_UNSUBSCRIBE:
    w_byte(&w, 0x93); w_uint(&w, m->type); w_uint(&w, m->id);
    w_str(&w, m->s, m->sn);
    break;
  case M_ACK:
    w_byte(&w, 0x93); w_uint(&w, M_ACK); w_uint(&w, m->id); w_uint(&w, m->b);
    break;
  case M_PUBLISH:
    w_byte(&w, 0x95); w_uint(&w, M_PUBLISH); w_uint(&w, m->id); w_uint(&w, m->a);
    if (m->alias) w_uint(&w, m->alias);
    else w_str(&w, m->s, m->sn);
    w_bin(&w, m->d, m->dn);
    break;
  case M_STREAM_START:
    w_byte(&w, 0x95); w_uint(&w, M_STREAM_START); w_uint(&w, m->id);
    w_uint(&w, m->a); w_str(&w, m->s, m->sn); w_str(&w, m->s2, m->s2n);
    break;
  case M_STREAM_DATA:
    w_byte(&w, 0x94); w_uint(&w, M_STREAM_DATA); w_uint(&w, m->a);
    w_uint(&w, m->u); w_bin(&w, m->d, m->dn);
    break;
  case M_STREAM_CLOSE:
    w_byte(&w, 0x93); w_uint(&w, M_STREAM_CLOSE); w_uint(&w, m->a); w_uint(&w, m->b);
    break;
  case M_BUTTON:
  case M_SENSOR:
    if (m->type == M_BUTTON) {
      w_byte(&w, 0x95); w_uint(&w, M_BUTTON); w_uint(&w, m->id);
      w_uint(&w, m->a); w_uint(&w, m->b);
    } else {
      w_byte(&w, 0x96); w_uint(&w, M_SENSOR); w_uint(&w, m->id);
      w_str(&w, m->s, m->sn); w_uint(&w, m->a);
      if (m->a <= AVI_SENSOR_HUMIDITY) {
        uint8_t t[5];
        t[0] = 0xca;
        put32(t + 1, m->u);
        w_raw(&w, t, 5);
      } else if (m->a == AVI_SENSOR_BATTERY) w_uint(&w, m->u);
      else if (m->a == AVI_SENSOR_STATUS) w_byte(&w, m->u ? 0xc3 : 0xc2);
      else w_int(&w, (int32_t)m->u);
    }
    if (m->has_d) w_bin(&w, m->d, m->dn);
    else w_byte(&w, 0xc0);
    break;
  case M_PING:
  case M_PONG:
    w_byte(&w, 0x91); w_uint(&w, m->type);
    break;
  case M_REGISTER:
    w_byte(&w, 0x94); w_uint(&w, M_REGISTER); w_uint(&w, m->id);
    w_uint(&w, m->alias); w_str(&w, m->s, m->sn);
    break;
  case M_REGACK:
    w_byte(&w, 0x94); w_uint(&w, M_REGACK); w_uint(&w, m->id);
    w_uint(&w, m->alias); w_uint(&w, m->b);
    break;
  default: /* M_DISCONNECT */
    w_byte(&w, 0x92); w_uint(&w, M_DISCONNECT); w_uint(&w, m->u);
  }
  return w.err ? 0 : w.n;
}

/* ------------------------------------------------------- message reader */

enum { F_UINT, F_NINT, F_STR, F_BIN, F_NIL, F_BOOL, F_F32, F_F64 };

/* One decoded field. */
typedef struct {
  uint8_t t;
  uint64_t u;       /* F_UINT, F_BOOL, F_F32 bits */
  int64_t i;        /* F_NINT */
  const uint8_t *p; /* F_STR, F_BIN */
  size_t n;
} fld_t;

/* Reads one scalar at *off (the forms of docs/PROTOCOL.md 4); 0 or -1. */
static int rd_scalar(const uint8_t *b, size_t n, size_t *off, fld_t *v) {
  size_t o = *off, len = 0;
  int has = 0;
  uint8_t c;
  if (o >= n) return -1;
  c = b[o++];
#define NEED(k) \
  do { if (n - o < (size_t)(k)) return -1; } while (0)
  v->p = NULL;
  v->n = 0;
  if (c <= 0x7f) { v->t = F_UINT; v->u = c; }
  else if (c >= 0xe0) { v->t = F_NINT; v->i = (int8_t)c; }
  else if ((c & 0xe0) == 0xa0) { v->t = F_STR; len = c & 0x1f; has = 1; }
  else switch (c) {
    case 0xc0: v->t = F_NIL; break;
    case 0xc2: case 0xc3: v->t = F_BOOL; v->u = c == 0xc3; break;
    case 0xcc: NEED(1); v->t = F_UINT; v->u = b[o]; o += 1; break;
    case 0xcd: NEED(2); v->t = F_UINT; v->u = get16(b + o); o += 2; break;
    case 0xce: NEED(4); v->t = F_UINT; v->u = get32(b + o); o += 4; break;
    case 0xcf: NEED(8); v->t = F_UINT; v->u = (uint64_t)get32(b + o) << 32 | get32(b + o + 4); o += 8; break;
    case 0xd0: NEED(1); v->t = F_NINT; v->i = (int8_t)b[o]; o += 1; break;
    case 0xd1: NEED(2); v->t = F_NINT; v->i = (int16_t)get16(b + o); o += 2; break;
    case 0xd2: NEED(4); v->t = F_NINT; v->i = (int32_t)get32(b + o); o += 4; break;
    case 0xd3: NEED(8); v->t = F_NINT; v->i = (int64_t)((uint64_t)get32(b + o) << 32 | get32(b + o + 4)); o += 8; break;
    case 0xca: NEED(4); v->t = F_F32; v->u = get32(b + o); o += 4; break;
    case 0xcb: NEED(8); v->t = F_F64; o += 8; break;
    case 0xd9: NEED(1); v->t = F_STR; len = b[o]; o += 1; has = 1; break;
    case 0xda: NEED(2); v->t = F_STR; len = get16(b + o); o += 2; has = 1; break;
    case 0xdb: NEED(4); v->t = F_STR; len = get32(b + o); o += 4; has = 1; break;
    case 0xc4: NEED(1); v->t = F_BIN; len = b[o]; o += 1; has = 1; break;
    case 0xc5: NEED(2); v->t = F_BIN; len = get16(b + o); o += 2; has = 1; break;
    case 0xc6: NEED(4); v->t = F_BIN; len = get32(b + o); o += 4; has = 1; break;
    default: return -1; /* arrays inside messages, maps, ext: not in v1 */
  }
  if (has) {
    NEED(len);
    v->p = b + o;
    v->n = len;
    o += len;
  }
#undef NEED
  /* A signed form holding a non-negative value is an unsigned integer. */
  if (v->t == F_NINT && v->i >= 0) { v->t = F_UINT; v->u = (uint64_t)v->i; }
  *off = o;
  return 0;
}

/* The arrays of docs/PROTOCOL.md 4, one letter per element after the type:
 *   w uint16   b uint8   d uint32   q qos 0|1 (1 needs msgId != 0)
 *   s str<=255 n str<=64  t topic (str<=255, or alias 1..65535)
 *   B bin      o bin|nil  a alias 1..65535   p press 0..2
 *   k sensor kind 0..4    v the value of that kind */
static const char *const SHAPES[19] = {
    NULL, "ws", "wb", "ws", "wb", "wqtB", "wqtB", "wb", "wbss", "bdB",
    "bb", "wbpo", "wnkvo", "bws", "", "", "was", "wwb", "d"};

static int is_uint(const fld_t *v, uint64_t max) { return v->t == F_UINT && v->u <= max; }
static int is_str(const fld_t *v, size_t max) {
  return v->t == F_STR && v->n <= max && utf8_ok(v->p, v->n);
}

/* Reads and checks one message at *off; returns its type (1..18) with its
 * fields after the type in f[0..5], or -1: malformed. */
static int msg_read(const uint8_t *b, size_t n, size_t *off, fld_t f[6]) {
  size_t o = *off, cnt, i;
  uint8_t c;
  fld_t t;
  const char *shape;
  if (o >= n) return -1;
  c = b[o++];
  if ((c & 0xf0) == 0x90) cnt = c & 0x0f;
  else if (c == 0xdc && n - o >= 2) { cnt = get16(b + o); o += 2; }
  else if (c == 0xdd && n - o >= 4) { cnt = get32(b + o); o += 4; }
  else return -1;
  if (cnt < 1 || cnt > n - o) return -1;
  if (rd_scalar(b, n, &o, &t) || !is_uint(&t, 0xff) || t.u < 1 || t.u > 18) return -1;
  shape = SHAPES[t.u];
  if (cnt != 1 + strlen(shape)) return -1;
  for (i = 0; i + 1 < cnt; i++) {
    fld_t *v = &f[i];
    int ok;
    if (rd_scalar(b, n, &o, v)) return -1;
    switch (shape[i]) {
    case 'w': ok = is_uint(v, 0xffff); break;
    case 'b': ok = is_uint(v, 0xff); break;
    case 'd': ok = is_uint(v, 0xffffffffu); break;
    case 'q': ok = is_uint(v, 1) && !(v->u == 1 && f[0].u == 0); break;
    case 'p': ok = is_uint(v, 2); break;
    case 'k': ok = is_uint(v, 4); break;
    case 'a': ok = is_uint(v, 0xffff) && v->u >= 1; break;
    case 's': ok = is_str(v, 255); break;
    case 'n': ok = is_str(v, 64); break;
    case 't':
      ok = is_str(v, 255) || (is_uint(v, 0xffff) && v->u >= 1);
      break;
    case 'B': ok = v->t == F_BIN; break;
    case 'o': ok = v->t == F_BIN || v->t == F_NIL; break;
    default: /* 'v', after 'k' */
      switch (f[i - 1].u) {
      case AVI_SENSOR_TEMPERATURE:
      case AVI_SENSOR_HUMIDITY: ok = v->t == F_F32; break;
      case AVI_SENSOR_BATTERY: ok = is_uint(v, 0xff); break;
      case AVI_SENSOR_STATUS: ok = v->t == F_BOOL; break;
      default:
        ok = is_uint(v, 0x7fffffff) || (v->t == F_NINT && v->i >= -2147483647 - 1);
      }
    }
    if (!ok) return -1;
  }
  *off = o;
  return (int)t.u;
}

int avi_messages_check(const uint8_t *pt, size_t len) {
  size_t off = 0;
  int k = 0;
  fld_t f[6];
  if (!pt || len == 0) return -1;
  while (off < len) {
    if (k == MAX_MESSAGES || msg_read(pt, len, &off, f) < 0) return -1;
    k++;
  }
  return k;
}

int avi_welcome_parse(const uint8_t *body, size_t len, uint16_t asked_frame,
                      uint16_t *max_frame, uint16_t *keepalive_s,
                      uint32_t *gateway_id) {
  size_t o = 0, cnt, i;
  fld_t v[3];
  uint8_t c;
  if (!body || len == 0) return -1;
  c = body[o++];
  if ((c & 0xf0) == 0x90) cnt = c & 0x0f;
  else if (c == 0xdc && len - o >= 2) { cnt = get16(body + o); o += 2; }
  else if (c == 0xdd && len - o >= 4) { cnt = get32(body + o); o += 4; }
  else return -1;
  if (cnt != 3) return -1;
  for (i = 0; i < 3; i++)
    if (rd_scalar(body, len, &o, &v[i]) || v[i].t != F_UINT) return -1;
  if (o != len || v[0].u < AVI_FRAME_MIN || v[0].u > asked_frame || v[1].u < 1 ||
      v[1].u > 0xffff || v[2].u > 0xffffffffu)
    return -1;
  *max_frame = (uint16_t)v[0].u;
  *keepalive_s = (uint16_t)v[1].u;
  *gateway_id = (uint32_t)v[2].u;
  return 0;
}

/* ------------------------------------------------------ frames, crypto */

int avi_hkdf_sha256_hmac(const avi_crypto_t *crypto, const uint8_t *ikm,
                         size_t ikm_len, const uint8_t *salt, size_t salt_len,
                         const uint8_t *info, size_t info_len, uint8_t *okm,
                         size_t okm_len) {
  uint8_t prk[32], t[32], i = 1;
  avi_bytes_t parts[3];
  size_t done = 0, tn = 0;
  static const uint8_t zero_salt[32] = {0};
  if (okm_len > 255 * 32) return -1;
  if (!salt || salt_len == 0) salt = zero_salt, salt_len = 32;
  parts[0].p = ikm;
  parts[0].n = ikm_len;
  if (crypto->hmac_sha256(crypto->ctx, salt, salt_len, parts, 1, prk)) return -1;
  while (done < okm_len) {
    size_t k = okm_len - done < 32 ? okm_len - done : 32;
    parts[0].p = t;
    parts[0].n = tn;
    parts[1].p = info;
    parts[1].n = info_len;
    parts[2].p = &i;
    parts[2].n = 1;
    if (crypto->hmac_sha256(crypto->ctx, prk, 32, parts, 3, t)) return -1;
    tn = 32;
    memcpy(okm + done, t, k);
    done += k;
    i++;
  }
  memset(prk, 0, sizeof prk);
  memset(t, 0, sizeof t);
  return 0;
}

int avi_hello_build(const avi_crypto_t *crypto, uint8_t out[60], uint64_t id,
                    const uint8_t psk[32], const uint8_t nonce[16],
                    uint16_t max_frame, const uint8_t cookie[16]) {
  uint8_t mac[32];
  avi_bytes_t parts[2];
  out[0] = VERSION;
  out[1] = K_HELLO;
  put32(out + 2, (uint32_t)(id >> 32));
  put32(out + 6, (uint32_t)id);
  memcpy(out + 10, nonce, 16);
  put16(out + 26, max_frame);
  memcpy(out + 28, cookie, 16);
  parts[0].p = (const uint8_t *)LABEL_HELLO;
  parts[0].n = sizeof LABEL_HELLO - 1;
  parts[1].p = out;
  parts[1].n = 44;
  if (crypto->hmac_sha256(crypto->ctx, psk, 32, parts, 2, mac)) return AVI_ERR_CRYPTO;
  memcpy(out + 44, mac, 16);
  return 0;
}

int avi_keys_derive(const avi_crypto_t *crypto, const uint8_t psk[32],
                    uint64_t id, uint32_t sid, const uint8_t nc[16],
                    const uint8_t ns[16], uint8_t k_d2g[32], uint8_t k_g2d[32]) {
  uint8_t salt[32], info[sizeof LABEL_KEYS - 1 + 12], okm[64];
  const size_t l = sizeof LABEL_KEYS - 1;
  memcpy(salt, nc, 16);
  memcpy(salt + 16, ns, 16);
  memcpy(info, LABEL_KEYS, l);
  put32(info + l, (uint32_t)(id >> 32));
  put32(info + l + 4, (uint32_t)id);
  put32(info + l + 8, sid);
  if (crypto->hkdf_sha256(crypto->ctx, psk, 32, salt, 32, info, sizeof info, okm, 64))
    return AVI_ERR_CRYPTO;
  memcpy(k_d2g, okm, 32);
  memcpy(k_g2d, okm + 32, 32);
  memset(okm, 0, sizeof okm);
  return 0;
}

int avi_frame_seal(const avi_crypto_t *crypto, const uint8_t key[32],
                   uint32_t sid, uint32_t seq, uint8_t *frame, size_t ptlen) {
  uint8_t nonce[12] = {0};
  frame[0] = VERSION;
  frame[1] = K_SEALED;
  put32(frame + 2, sid);
  put32(frame + 6, seq);
  put32(nonce + 8, seq);
  if (crypto->aead_seal(crypto->ctx, key, nonce, frame, 10, frame + 10, ptlen,
                        frame + 10 + ptlen))
    return AVI_ERR_CRYPTO;
  return (int)(ptlen + AVI_OVERHEAD);
}

int avi_frame_open(const avi_crypto_t *crypto, const uint8_t key[32],
                   uint8_t *frame, size_t len) {
  uint8_t nonce[12] = {0};
  if (len < AVI_OVERHEAD + 1 || frame[0] != VERSION || frame[1] != K_SEALED) return -1;
  memcpy(nonce + 8, frame + 6, 4);
  if (crypto->aead_open(crypto->ctx, key, nonce, frame, 10, frame + 10,
                        len - AVI_OVERHEAD, frame + len - 16))
    return -1;
  return (int)(len - AVI_OVERHEAD);
}

/* ---------------------------------------------------------- the client */

static uint32_t now_ms(avi_client_t *c) { return c->sys.now_ms(c->sys.ctx); }

static void emit(avi_client_t *c, avi_event_t *ev) {
  if (c->on_event) c->on_event(c->user, ev);
}

static void emit_simple(avi_client_t *c, avi_event_type_t type, uint8_t code) {
  avi_event_t ev;
  memset(&ev, 0, sizeof ev);
  ev.type = type;
  ev.state = (avi_state_t)c->state;
  ev.code = code;
  emit(c, &ev);
}

static void set_state(avi_client_t *c, avi_state_t s) {
  if (c->state == s) return;
  c->state = (uint8_t)s;
  emit_simple(c, AVI_EV_STATE, 0);
}

static uint32_t delay(const avi_client_t *c, uint32_t tx) {
  uint32_t d = c->retry_initial, i;
  for (i = 1; i < tx && d < c->retry_max; i++) d *= 2;
  return d < c->retry_max ? d : c->retry_max;
}

static int addr_eq(const avi_addr_t *a, const avi_addr_t *b) {
  return a->port == b->port && memcmp(a->ip, b->ip, 4) == 0;
}

static void send_raw(avi_client_t *c, const avi_addr_t *to, const uint8_t *b, size_t n) {
  c->stats.frames_sent++;
  (void)c->sock.send(c->sock.ctx, to, b, n); /* a failure is a lost datagram */
}

/* ------------------------------------------------------- topic store */
/* Records back to back: [kind][len][id hi][id lo][topic bytes][0]. */

static uint8_t *t_find(avi_client_t *c, unsigned kinds, const char *s, size_t n,
                       unsigned id, int by_id) {
  size_t o = 0;
  while (o < c->topics_len) {
    uint8_t *r = c->topics + o;
    if ((kinds & TB(r[0])) &&
        (by_id ? get16(r + 2) == id : (r[1] == n && memcmp(r + 4, s, n) == 0)))
      return r;
    o += 5u + r[1];
  }
  return NULL;
}

static unsigned t_count(const avi_client_t *c, unsigned kinds) {
  size_t o = 0;
  unsigned k = 0;
  while (o < c->topics_len) {
    const uint8_t *r = c->topics + o;
    k += (kinds & TB(r[0])) != 0;
    o += 5u + r[1];
  }
  return k;
}

static uint8_t *t_add(avi_client_t *c, uint8_t kind, unsigned id, const char *s, size_t n) {
  uint8_t *r;
  if (5u + n > (size_t)(c->topics_cap - c->topics_len)) return NULL;
  r = c->topics + c->topics_len;
  r[0] = kind;
  r[1] = (uint8_t)n;
  put16(r + 2, id);
  if (n) memcpy(r + 4, s, n);
  r[4 + n] = 0;
  c->topics_len = (uint16_t)(c->topics_len + 5 + n);
  return r;
}

static void t_del(avi_client_t *c, uint8_t *r) {
  size_t o = (size_t)(r - c->topics), sz = 5u + r[1];
  memmove(r, r + sz, c->topics_len - o - sz);
  c->topics_len = (uint16_t)(c->topics_len - sz);
}

static void t_del_kinds(avi_client_t *c, unsigned kinds) {
  size_t o = 0;
  while (o < c->topics_len) {
    uint8_t *r = c->topics + o;
    if (kinds & TB(r[0])) t_del(c, r);
    else o += 5u + r[1];
  }
}

/* ----------------------------------------------------- pending store */

static int is_data(uint8_t type) {
  return type == M_PUBLISH || type == M_BUTTON || type == M_SENSOR ||
         type == M_STREAM_START;
}

static uint8_t answer_type(uint8_t type) {
  return type == M_SUBSCRIBE ? M_SUBACK
       : type == M_UNSUBSCRIBE ? M_UNSUBACK
       : type == M_REGISTER ? M_REGACK : M_ACK;
}

static int pend_find(const avi_client_t *c, unsigned id) {
  unsigned i;
  for (i = 0; i < c->pend_n; i++)
    if (c->pend[i].msg_id == id) return (int)i;
  return -1;
}

/* The next msgId (1..65535), skipping the ones still held. */
static uint16_t alloc_id(avi_client_t *c) {
  for (;;) {
    uint16_t id = c->next_id;
    c->next_id = id == 0xffff ? 1 : (uint16_t)(id + 1);
    if (pend_find(c, id) < 0) return id;
  }
}

/* Room for one more message of this type (before its msgId is taken). */
static int pend_room(const avi_client_t *c, uint8_t type) {
  unsigned i, data = 0;
  if (c->pend_n >= AVI_MAX_INFLIGHT) return 0;
  if (!is_data(type)) return 1;
  for (i = 0; i < c->pend_n; i++) data += is_data(c->pend[i].type);
  return data < c->max_pending;
}

/* Encodes m into the store and holds it until answered. */
static int pend_add(avi_client_t *c, const msg_t *m) {
  size_t n = encode(NULL, (size_t)-1, m);
  avi_pending_t *p;
  if (n == 0 || n + AVI_OVERHEAD > (c->frame ? c->frame : c->max_frame)) return AVI_ERR_TOO_LARGE;
  if (!pend_room(c, m->type) || n > (size_t)(c->store_cap - c->store_len)) return AVI_ERR_FULL;
  encode(c->store + c->store_len, n, m);
  p = &c->pend[c->pend_n++];
  p->off = c->store_len;
  p->len = (uint16_t)n;
  p->msg_id = m->id;
  p->type = m->type;
  p->tx = 0;
  p->next_at = now_ms(c);
  p->first_at = p->next_at;
  c->store_len = (uint16_t)(c->store_len + n);
  return 0;
}

static void pend_del(avi_client_t *c, unsigned i) {
  avi_pending_t *p = &c->pend[i];
  size_t off = p->off, len = p->len;
  unsigned j;
  memmove(c->store + off, c->store + off + len, c->store_len - off - len);
  c->store_len = (uint16_t)(c->store_len - len);
  for (j = i; j + 1 < c->pend_n; j++) {
    c->pend[j] = c->pend[j + 1];
    c->pend[j].off = (uint16_t)(c->pend[j].off - len);
  }
  c->pend_n--;
}

/* Decodes a held message (our own bytes) to read its fields. */
static int pend_fields(const avi_client_t *c, unsigned i, fld_t f[6]) {
  size_t off = 0;
  return msg_read(c->store + c->pend[i].off, c->pend[i].len, &off, f);
}

static int in_window(const avi_client_t *c, const avi_pending_t *p) {
  return (uint32_t)(p->msg_id - c->pend[0].msg_id + 0xffff) % 0xffff < SEND_WINDOW;
}

/* ---------------------------------------------------------- outbox */

static void start_handshake(avi_client_t *c, avi_state_t s);

/* Seals what the outbox holds into Sealed frames and sends them. */
static void flush(avi_client_t *c) {
  while (c->out_n) {
    uint32_t seq;
    uint16_t n = c->out_len;
    uint8_t k = c->out_n;
    int len;
    c->out_len = 0;
    c->out_n = 0;
    if (c->state != AVI_CONNECTED) return;
    if (c->tx_seq == 0xffffffffu) { /* the counter would pass 2^32-1 */
      start_handshake(c, AVI_RECONNECTING);
      return;
    }
    seq = ++c->tx_seq;
    len = avi_frame_seal(&c->crypto, c->k_d2g, c->sid, seq, c->tx, n);
    if (len < 0) return;
    send_raw(c, &c->gw, c->tx, (size_t)len);
    c->stats.messages_sent += k;
    c->last_sent = now_ms(c);
    {
      avi_event_t ev;
      memset(&ev, 0, sizeof ev);
      ev.type = AVI_EV_FRAME_SENT;
      ev.state = (avi_state_t)c->state;
      ev.seq = seq;
      ev.count = k;
      emit(c, &ev);
    }
  }
}

/* Appends encoded bytes; a full frame (max frame, 32 messages) leaves first. */
static void out_add(avi_client_t *c, const uint8_t *b, size_t n) {
  if (c->out_n == MAX_MESSAGES || c->out_len + n + AVI_OVERHEAD > c->frame) flush(c);
  memcpy(c->tx + 10 + c->out_len, b, n);
  c->out_len = (uint16_t)(c->out_len + n);
  c->out_n++;
}

/* Encodes a message straight into the outbox. */
static int out_msg(avi_client_t *c, const msg_t *m) {
  size_t n = encode(NULL, (size_t)-1, m);
  if (c->state != AVI_CONNECTED) return AVI_ERR_STATE;
  if (n == 0 || n + AVI_OVERHEAD > c->frame) return AVI_ERR_TOO_LARGE;
  if (c->out_n == MAX_MESSAGES || c->out_len + n + AVI_OVERHEAD > c->frame) flush(c);
  if (c->state != AVI_CONNECTED) return AVI_ERR_STATE;
  encode(c->tx + 10 + c->out_len, n, m);
  c->out_len = (uint16_t)(c->out_len + n);
  c->out_n++;
  return 0;
}

static void out_simple(avi_client_t *c, uint8_t type, uint16_t id, uint8_t code) {
  msg_t m;
  memset(&m, 0, sizeof m);
  m.type = type;
  m.id = id;
  m.b = code;
  (void)out_msg(c, &m);
}

/* Queues every held message that is due and inside the send window. */
static void collect(avi_client_t *c) {
  unsigned i;
  uint32_t t = now_ms(c);
  for (i = 0; c->state == AVI_CONNECTED && i < c->pend_n; i++) {
    avi_pending_t *p = &c->pend[i];
    if (!in_window(c, p)) break;
    if (!reached(t, p->next_at)) continue;
    if (p->len + AVI_OVERHEAD > c->frame) {
      /* Too large for the frame agreed at a new handshake: refused. */
      avi_event_t ev;
      memset(&ev, 0, sizeof ev);
      ev.type = AVI_EV_ACK;
      ev.state = (avi_state_t)c->state;
      ev.msg_type = p->type;
      ev.msg_id = p->msg_id;
      ev.code = AVI_E_TOO_LARGE;
      pend_del(c, i--);
      emit(c, &ev);
      continue;
    }
    if (p->tx == 0) p->first_at = t;
    else c->stats.retransmissions++;
    if (p->tx < 255) p->tx++;
    p->next_at = t + delay(c, p->tx);
    out_add(c, c->store + p->off, p->len);
  }
}

/* Subscribes again to every topic held that has no Subscribe in flight. */
static void sub_sync(avi_client_t *c) {
  size_t o = 0;
  while (c->ever && c->state != AVI_CLOSED && o < c->topics_len) {
    uint8_t *r = c->topics + o;
    if (r[0] == T_SUB && get16(r + 2) && pend_room(c, M_SUBSCRIBE)) {
      msg_t m;
      memset(&m, 0, sizeof m);
      m.type = M_SUBSCRIBE;
      m.id = alloc_id(c);
      m.s = (const char *)r + 4;
      m.sn = r[1];
      if (pend_add(c, &m) == 0) put16(r + 2, 0);
    }
    o += 5u + r[1];
  }
}

/* Sends now what is ready, unless calls are being batched. */
static void kick(avi_client_t *c) {
  if (c->depth) return;
  c->depth++;
  sub_sync(c);
  collect(c);
  flush(c);
  c->depth--;
}

/* ---------------------------------------------------------- handshake */

static void random_bytes(avi_client_t *c, uint8_t *p, size_t n) {
  (void)c->sys.random(c->sys.ctx, p, n);
}

static void hs_hello(avi_client_t *c) {
  uint8_t hello[60];
  c->hs_tx++;
  if (c->hs_tx > 1) c->stats.retransmissions++;
  c->hs_next = now_ms(c) + delay(c, c->hs_tx);
  if (avi_hello_build(&c->crypto, hello, c->device_id, c->psk, c->nonce,
                      c->max_frame, c->cookie) == 0)
    send_raw(c, &c->gw, hello, sizeof hello);
}

static void start_handshake(avi_client_t *c, avi_state_t s) {
  c->out_len = 0;
  c->out_n = 0;
  c->ping_tx = 0;
  random_bytes(c, c->nonce, 16);
  memset(c->cookie, 0, 16);
  c->hs_tx = 0;
  set_state(c, s);
  if (c->state == s) hs_hello(c);
}

static void search_again(avi_client_t *c) {
  uint8_t f[18];
  c->hs_tx++;
  if (c->hs_tx > 1) c->stats.retransmissions++;
  c->hs_next = now_ms(c) + delay(c, c->hs_tx);
  f[0] = VERSION;
  f[1] = K_SEARCHGW;
  memcpy(f + 2, c->search_nonce, 8);
  memset(f + 10, 0, 8);
  send_raw(c, &c->discovery, f, sizeof f);
}

static void start_search(avi_client_t *c) {
  random_bytes(c, c->search_nonce, 8);
  c->hs_tx = 0;
  set_state(c, AVI_SEARCHING);
  if (c->state == AVI_SEARCHING) search_again(c);
}

static int handshaking(const avi_client_t *c) {
  return c->state == AVI_HANDSHAKING || c->state == AVI_RECONNECTING;
}

static void fail_connect(avi_client_t *c, uint8_t code) {
  c->connecting = 0;
  /* Before a first session, give up; after it, keep reconnecting (the
   * unacknowledged messages are still there to deliver). */
  if (!c->ever) set_state(c, AVI_IDLE);
  emit_simple(c, AVI_EV_CONNECT_FAILED, code);
}

/* A new session: forget the old one's tables, settle what only it needed,
 * and send everything kept again from the start. */
static void on_session(avi_client_t *c) {
  unsigned i;
  uint32_t t = now_ms(c);
  size_t o = 0;
  c->seen_n = 0;
  c->seen_pos = 0;
  t_del_kinds(c, T_UP_ANY | TB(T_DOWN));
  c->next_alias = 1;
  c->ever = 1;
  c->connecting = 0;
  set_state(c, AVI_CONNECTED);
  for (i = 0; c->state == AVI_CONNECTED && i < c->pend_n; i++) {
    avi_pending_t *p = &c->pend[i];
    fld_t f[6];
    int drop = p->type == M_REGISTER || p->type == M_UNSUBSCRIBE;
    if (p->type == M_SUBSCRIBE && pend_fields(c, i, f) == M_SUBSCRIBE)
      drop = !t_find(c, TB(T_SUB), (const char *)f[1].p, f[1].n, 0, 0);
    if (drop) {
      avi_event_t ev;
      memset(&ev, 0, sizeof ev);
      ev.type = AVI_EV_ACK;
      ev.state = AVI_CONNECTED;
      ev.msg_type = p->type;
      ev.msg_id = p->msg_id;
      pend_del(c, i--);
      if (ev.msg_type != M_REGISTER) emit(c, &ev);
      continue;
    }
    p->tx = 0;
    p->next_at = t;
  }
  /* Every subscription is renewed, unless its Subscribe is in flight. */
  while (o < c->topics_len) {
    uint8_t *r = c->topics + o;
    if (r[0] == T_SUB) {
      unsigned j, held = 0;
      for (j = 0; j < c->pend_n && !held; j++) {
        fld_t f[6];
        held = c->pend[j].type == M_SUBSCRIBE && pend_fields(c, j, f) == M_SUBSCRIBE &&
               f[1].n == r[1] && memcmp(f[1].p, r + 4, r[1]) == 0;
      }
      put16(r + 2, held ? 0 : 1);
    }
    o += 5u + r[1];
  }
  sub_sync(c);
}

static void on_welcome(avi_client_t *c, size_t len) {
  uint8_t *f = c->rx, kd[32], kg[32], aad[38], nonce[12] = {0};
  uint32_t sid = get32(f + 2);
  uint16_t mf, ka;
  uint32_t gid;
  if (sid == 0 ||
      avi_keys_derive(&c->crypto, c->psk, c->device_id, sid, c->nonce, f + 6, kd, kg))
    goto drop;
  memcpy(aad, f, 22);
  memcpy(aad + 22, c->nonce, 16);
  if (c->crypto.aead_open(c->crypto.ctx, kg, nonce, aad, sizeof aad, f + 22,
                          len - 38, f + len - 16) ||
      avi_welcome_parse(f + 22, len - 38, c->max_frame, &mf, &ka, &gid))
    goto drop;
  c->sid = sid;
  memcpy(c->k_d2g, kd, 32);
  memcpy(c->k_g2d, kg, 32);
  c->frame = mf;
  c->keepalive_ms = (uint32_t)ka * 1000u;
  c->gateway_id = gid;
  c->tx_seq = 0;
  c->rx_high = 0; /* the Welcome was sequence 0 of the gateway direction */
  c->rx_bits = 0;
  c->last_recv = c->last_sent = now_ms(c);
  c->ping_tx = 0;
  c->out_len = 0;
  c->out_n = 0;
  c->stats.handshakes++;
  memset(kd, 0, sizeof kd);
  memset(kg, 0, sizeof kg);
  on_session(c);
  return;
drop:
  c->stats.frames_dropped++;
}

static void on_reject(avi_client_t *c, uint8_t code, uint32_t sid) {
  if (handshaking(c)) {
    if (code == AVI_E_REPLAYED) {
      start_handshake(c, (avi_state_t)c->state);
    } else if (code == AVI_E_NOT_AUTHORISED || code == AVI_E_UNSUPPORTED_VERSION) {
      avi_event_t ev;
      memset(&ev, 0, sizeof ev);
      ev.type = AVI_EV_ERROR;
      ev.state = (avi_state_t)c->state;
      ev.code = code;
      ev.topic = "handshake refused";
      ev.topic_len = 17;
      emit(c, &ev);
      /* While reconnecting, keep trying: the key may be restored. */
      if (c->connecting) fail_connect(c, code);
    } else c->stats.frames_dropped++;
    return;
  }
  if (c->state == AVI_CONNECTED && code == AVI_E_UNKNOWN_SESSION && sid == c->sid)
    start_handshake(c, AVI_RECONNECTING);
  else c->stats.frames_dropped++;
}

/* ------------------------------------------------- received messages */

static void ack_received(avi_client_t *c, uint8_t type, unsigned id, uint8_t code) {
  unsigned i;
  avi_event_t ev;
  fld_t f[6];
  for (i = 0; i < c->pend_n; i++)
    if (c->pend[i].msg_id == id && answer_type(c->pend[i].type) == type) break;
  if (i == c->pend_n) return; /* stale: already answered */
  memset(&ev, 0, sizeof ev);
  ev.type = AVI_EV_ACK;
  ev.state = (avi_state_t)c->state;
  ev.msg_type = c->pend[i].type;
  ev.msg_id = (uint16_t)id;
  ev.code = code;
  switch (pend_fields(c, i, f)) {
  case M_SUBSCRIBE: /* refused: the topic is forgotten */
    if (code) {
      uint8_t *r = t_find(c, TB(T_SUB), (const char *)f[1].p, f[1].n, 0, 0);
      if (r) t_del(c, r);
    }
    break;
  case M_REGISTER: {
    uint8_t *r = t_find(c, TB(T_UP_PENDING), NULL, 0, (unsigned)f[1].u, 1);
    if (r) r[0] = code ? T_UP_REFUSED : T_UP;
    break;
  }
  case M_STREAM_START:
    if (code) {
      unsigned s;
      for (s = 0; s < AVI_MAX_STREAMS; s++)
        if (c->streams[s].used && c->streams[s].id == f[1].u) c->streams[s].used = 0;
    }
    break;
  default:
    break;
  }
  pend_del(c, i);
  if (ev.msg_type != M_REGISTER) emit(c, &ev);
}

static int seen(const avi_client_t *c, unsigned id) {
  unsigned i;
  for (i = 0; i < c->seen_n; i++)
    if (c->seen[i] == id) return 1;
  return 0;
}

static void remember(avi_client_t *c, unsigned id) {
  c->seen[c->seen_pos] = (uint16_t)id;
  c->seen_pos = (uint8_t)((c->seen_pos + 1) % DEDUP);
  if (c->seen_n < DEDUP) c->seen_n++;
}

/* Emits an event whose text (ev->topic) lies in the receive buffer: it is
 * NUL-terminated in place for the callback (the byte after it is still in
 * the buffer: the next field, message, or the tag), then restored. Texts of
 * the topic store end with a NUL already. */
static void emit_text(avi_client_t *c, avi_event_t *ev, const uint8_t *text, size_t n) {
  uint8_t *end = c->rx + (text + n - c->rx), saved;
  ev->topic = (const char *)text;
  ev->topic_len = n;
  if (text < c->rx || text >= c->rx + c->max_frame) {
    emit(c, ev);
    return;
  }
  saved = *end;
  *end = 0;
  emit(c, ev);
  *end = saved;
}

static void handle(avi_client_t *c, int type, const fld_t *f) {
  avi_event_t ev;
  memset(&ev, 0, sizeof ev);
  ev.state = AVI_CONNECTED;
  switch (type) {
  case M_SUBACK:
  case M_UNSUBACK:
  case M_ACK:
    ack_received(c, (uint8_t)type, (unsigned)f[0].u, (uint8_t)f[1].u);
    return;
  case M_REGACK:
    ack_received(c, M_REGACK, (unsigned)f[0].u, (uint8_t)f[2].u);
    return;
  case M_PING:
    out_simple(c, M_PONG, 0, 0);
    return;
  case M_PONG:
    c->ping_tx = 0;
    ev.type = AVI_EV_PONG;
    emit(c, &ev);
    return;
  case M_MESSAGE: {
    unsigned id = (unsigned)f[0].u, qos = (unsigned)f[1].u;
    const uint8_t *topic = f[2].p;
    size_t tn = f[2].n;
    if (f[2].t == F_UINT) {
      const uint8_t *r = t_find(c, TB(T_DOWN), NULL, 0, (unsigned)f[2].u, 1);
      if (!r) {
        if (qos) out_simple(c, M_ACK, (uint16_t)id, AVI_E_UNKNOWN_ALIAS);
        return;
      }
      topic = r + 4;
      tn = r[1];
    }
    /* A topic holding a NUL byte cannot be handed over as a C string (it
     * would read as a shorter topic): refused. */
    if (tn && memchr(topic, 0, tn)) {
      if (qos) out_simple(c, M_ACK, (uint16_t)id, AVI_E_MALFORMED);
      return;
    }
    ev.type = AVI_EV_MESSAGE;
    ev.qos = (uint8_t)qos;
    ev.msg_id = (uint16_t)id;
    ev.data = f[3].p;
    ev.len = f[3].n;
    if (qos) {
      if (seen(c, id)) c->stats.duplicates++;
      else {
        remember(c, id);
        emit_text(c, &ev, topic, tn);
      }
      out_simple(c, M_ACK, (uint16_t)id, AVI_E_OK);
    } else emit_text(c, &ev, topic, tn);
    return;
  }
  case M_REGISTER: {
    uint8_t code = AVI_E_OK, *r = t_find(c, TB(T_DOWN), NULL, 0, (unsigned)f[1].u, 1);
    msg_t m;
    if (f[2].n && memchr(f[2].p, 0, f[2].n)) code = AVI_E_MALFORMED; /* see Message */
    else {
      if (r) t_del(c, r); /* registering again replaces the topic */
      if ((!r && t_count(c, TB(T_DOWN)) >= c->max_aliases) ||
          !t_add(c, T_DOWN, (unsigned)f[1].u, (const char *)f[2].p, f[2].n))
        code = AVI_E_LIMIT_REACHED;
    }
    memset(&m, 0, sizeof m);
    m.type = M_REGACK;
    m.id = (uint16_t)f[0].u;
    m.alias = (uint16_t)f[1].u;
    m.b = code;
    (void)out_msg(c, &m);
    return;
  }
  case M_STREAM_DATA:
    ev.type = AVI_EV_STREAM_DATA;
    ev.stream_id = (uint8_t)f[0].u;
    ev.seq = (uint32_t)f[1].u;
    ev.data = f[2].p;
    ev.len = f[2].n;
    emit(c, &ev);
    return;
  case M_STREAM_CLOSE: {
    unsigned s;
    for (s = 0; s < AVI_MAX_STREAMS; s++)
      if (c->streams[s].used && c->streams[s].id == f[0].u) c->streams[s].used = 0;
    ev.type = AVI_EV_STREAM_CLOSE;
    ev.stream_id = (uint8_t)f[0].u;
    ev.code = (uint8_t)f[1].u;
    emit(c, &ev);
    return;
  }
  case M_ERROR:
    ev.type = AVI_EV_ERROR;
    ev.code = (uint8_t)f[0].u;
    ev.msg_id = (uint16_t)f[1].u;
    emit_text(c, &ev, f[2].p, f[2].n);
    return;
  default: /* a message of the other direction: ignored */
    return;
  }
}

static void on_sealed(avi_client_t *c, size_t len, const avi_addr_t *from) {
  uint8_t *f = c->rx;
  uint32_t seq = get32(f + 6), shift;
  size_t off = 0, ptlen;
  int k, i;
  avi_event_t ev;
  if (c->state != AVI_CONNECTED || len < AVI_OVERHEAD + 1 || get32(f + 2) != c->sid ||
      seq == 0)
    goto drop;
  /* Replay window: 64 entries, checked before decryption. */
  if (seq <= c->rx_high) {
    shift = c->rx_high - seq;
    if (shift >= 64 || (c->rx_bits >> shift & 1)) goto drop;
  }
  if (avi_frame_open(&c->crypto, c->k_g2d, f, len) < 0) goto drop;
  if (seq > c->rx_high) {
    shift = seq - c->rx_high;
    c->rx_bits = shift >= 64 ? 0 : c->rx_bits << shift;
    c->rx_bits |= 1;
    c->rx_high = seq;
  } else c->rx_bits |= (uint64_t)1 << (c->rx_high - seq);
  c->last_recv = now_ms(c);
  c->ping_tx = 0; /* the gateway is there */
  if (!addr_eq(from, &c->gw)) c->gw = *from; /* the address follows the session */
  /* Pass 1: every message checked; one bad, none or more than 32: the
   * whole frame is dropped (its sequence number stays used). */
  ptlen = len - AVI_OVERHEAD;
  k = avi_messages_check(f + 10, ptlen);
  memset(&ev, 0, sizeof ev);
  ev.type = AVI_EV_FRAME_RECEIVED;
  ev.state = AVI_CONNECTED;
  ev.seq = seq;
  if (k < 0) {
    c->stats.frames_dropped++;
    ev.code = AVI_E_MALFORMED;
    emit(c, &ev);
    return;
  }
  ev.count = (uint16_t)k;
  emit(c, &ev);
  /* Pass 2: each message handled in order, as if alone. */
  for (i = 0; i < k && c->state == AVI_CONNECTED; i++) {
    fld_t fl[6];
    int type = msg_read(f + 10, ptlen, &off, fl);
    if (type < 0) break; /* cannot happen: pass 1 read the same bytes */
    handle(c, type, fl);
  }
  return;
drop:
  c->stats.frames_dropped++;
}

/* Handles the datagram in c->rx. */
static void on_datagram(avi_client_t *c, size_t len, const avi_addr_t *from) {
  const uint8_t *f = c->rx;
  int from_gw = c->gw_known && addr_eq(from, &c->gw);
  c->stats.frames_received++;
  if (c->state == AVI_IDLE || c->state == AVI_CLOSED || len < 2 || len > c->max_frame ||
      f[0] != VERSION)
    goto drop;
  switch (f[1]) {
  case K_SEALED:
    on_sealed(c, len, from);
    return;
  case K_COOKIE:
    if (len != 18 || !from_gw || !handshaking(c)) break;
    /* The cookie replaces ours; the Hello leaves again at once with it,
     * its attempts counted afresh (docs/PROTOCOL.md 5.1). */
    memcpy(c->cookie, f + 2, 16);
    c->hs_tx = 0;
    hs_hello(c);
    return;
  case K_WELCOME:
    if (len < 22 + 16 + 1 || !from_gw || !handshaking(c)) break;
    on_welcome(c, len);
    return;
  case K_REJECT:
    if (len != 7 || !from_gw) break;
    on_reject(c, f[2], get32(f + 3));
    return;
  case K_GWINFO:
    if (len != 16 || c->state != AVI_SEARCHING || memcmp(f + 2, c->search_nonce, 8)) break;
    c->gw = *from;
    if (get16(f + 10)) c->gw.port = (uint16_t)get16(f + 10);
    c->gw_known = 1;
    c->gateway_id = get32(f + 12);
    start_handshake(c, AVI_HANDSHAKING);
    return;
  default:
    break;
  }
drop:
  c->stats.frames_dropped++;
}

/* ---------------------------------------------------------- timers */

static void do_tick(avi_client_t *c) {
  uint32_t t = now_ms(c);
  unsigned i;
  if (c->state == AVI_IDLE || c->state == AVI_CLOSED) return;
  if (c->connecting && reached(t, c->connect_deadline)) {
    fail_connect(c, 0);
    return;
  }
  if (c->state == AVI_SEARCHING) {
    if (reached(t, c->hs_next)) search_again(c);
    return;
  }
  if (handshaking(c)) {
    if (reached(t, c->hs_next)) {
      if (c->hs_tx >= c->max_tx) memset(c->cookie, 0, 16); /* it may have expired */
      hs_hello(c);
    }
    return;
  }
  /* CONNECTED. The gateway is presumed lost when a message (or Ping) went
   * unanswered max_tx times with nothing at all heard since its first
   * transmission. */
  for (i = 0; i < c->pend_n; i++) {
    const avi_pending_t *p = &c->pend[i];
    if (!in_window(c, p)) break;
    if (p->tx >= c->max_tx && reached(t, p->next_at) && before(c->last_recv, p->first_at)) {
      start_handshake(c, AVI_RECONNECTING);
      return;
    }
  }
  if (c->ping_tx && reached(t, c->ping_next)) {
    if (c->ping_tx >= c->max_tx && before(c->last_recv, c->ping_first)) {
      start_handshake(c, AVI_RECONNECTING);
      return;
    }
    if (c->ping_tx < 255) c->ping_tx++;
    c->ping_next = t + delay(c, c->ping_tx);
    c->stats.retransmissions++;
    out_simple(c, M_PING, 0, 0);
  } else if (!c->ping_tx && reached(t, c->last_sent + c->keepalive_ms)) {
    c->ping_tx = 1;
    c->ping_first = t;
    c->ping_next = t + delay(c, 1);
    out_simple(c, M_PING, 0, 0);
  }
  sub_sync(c);
  collect(c);
  flush(c);
}

uint32_t avi_client_next_timeout(avi_client_t *c) {
  uint32_t t = now_ms(c), d = t + 60000u;
  unsigned i;
#define EARLIER(x) \
  do { if (before((x), d)) d = (x); } while (0)
  if (c->state == AVI_IDLE || c->state == AVI_CLOSED) return 60000u;
  if (c->connecting) EARLIER(c->connect_deadline);
  if (c->state == AVI_CONNECTED) {
    EARLIER(c->ping_tx ? c->ping_next : c->last_sent + c->keepalive_ms);
    for (i = 0; i < c->pend_n && in_window(c, &c->pend[i]); i++) EARLIER(c->pend[i].next_at);
  } else EARLIER(c->hs_next);
#undef EARLIER
  return reached(t, d) ? 0 : d - t;
}

/* ---------------------------------------------------------- API */

void avi_config_init(avi_config_t *cfg) {
  memset(cfg, 0, sizeof *cfg);
  cfg->max_frame = AVI_FRAME_DEFAULT;
  cfg->store_bytes = AVI_STORE_DEFAULT;
  cfg->topic_bytes = AVI_TOPICS_DEFAULT;
  cfg->connect_timeout_ms = 10000;
  cfg->retry_initial_ms = 1000;
  cfg->retry_max_ms = 8000;
  cfg->max_transmissions = 4;
  cfg->max_pending = 16;
  cfg->max_aliases = 16;
  cfg->alias_min_topic_bytes = 16;
}

int avi_client_init(avi_client_t *c, const avi_config_t *cfg) {
  size_t frame, store, topics;
  uint8_t r[2];
  if (!c || !cfg) return AVI_ERR_ARG;
  frame = cfg->max_frame ? cfg->max_frame : AVI_FRAME_DEFAULT;
  store = cfg->store_bytes ? cfg->store_bytes : AVI_STORE_DEFAULT;
  topics = cfg->topic_bytes ? cfg->topic_bytes : AVI_TOPICS_DEFAULT;
  if (frame < AVI_FRAME_MIN || frame > AVI_FRAME_MAX || store > 0xffff ||
      topics > 0xffff || !cfg->mem || cfg->mem_len < AVI_MEM_SIZE(frame, store, topics) ||
      cfg->device_id > 9007199254740991ull || !cfg->socket || !cfg->socket->send ||
      !cfg->system || !cfg->system->now_ms || !cfg->system->random || !cfg->crypto ||
      !cfg->crypto->hmac_sha256 || !cfg->crypto->hkdf_sha256 || !cfg->crypto->aead_seal ||
      !cfg->crypto->aead_open || cfg->max_pending > AVI_MAX_INFLIGHT ||
      cfg->connect_timeout_ms > 3600000u || cfg->retry_max_ms > 3600000u ||
      (cfg->retry_max_ms && cfg->retry_max_ms < cfg->retry_initial_ms))
    return AVI_ERR_ARG;
  memset(c, 0, sizeof *c);
  c->sock = *cfg->socket;
  c->sys = *cfg->system;
  c->crypto = *cfg->crypto;
  c->on_event = cfg->on_event;
  c->user = cfg->user;
  c->device_id = cfg->device_id;
  memcpy(c->psk, cfg->key, 32);
  c->gw = cfg->gateway;
  c->gw_known = cfg->gateway.port != 0;
  if (cfg->discovery.port) c->discovery = cfg->discovery;
  else {
    static const avi_addr_t group = {{239, 255, 97, 118}, 8888};
    c->discovery = group;
  }
  c->max_frame = (uint16_t)frame;
  c->rx = cfg->mem;
  c->tx = cfg->mem + frame;
  c->store = cfg->mem + 2 * frame;
  c->topics = c->store + store;
  c->store_cap = (uint16_t)store;
  c->topics_cap = (uint16_t)topics;
  c->connect_timeout = cfg->connect_timeout_ms ? cfg->connect_timeout_ms : 10000;
  c->retry_initial = cfg->retry_initial_ms ? cfg->retry_initial_ms : 1000;
  c->retry_max = cfg->retry_max_ms ? cfg->retry_max_ms : 8000;
  if (c->retry_max < c->retry_initial) c->retry_max = c->retry_initial;
  c->max_tx = cfg->max_transmissions ? cfg->max_transmissions : 4;
  c->max_pending = cfg->max_pending ? cfg->max_pending : 16;
  if (c->max_pending > AVI_MAX_INFLIGHT) c->max_pending = AVI_MAX_INFLIGHT;
  c->max_aliases = cfg->no_aliases ? 0 : (cfg->max_aliases ? cfg->max_aliases : 16);
  c->alias_min = cfg->alias_min_topic_bytes ? cfg->alias_min_topic_bytes : 16;
  c->keepalive_ms = 30000;
  c->next_alias = 1;
  /* A random first msgId: a rebooted device is not taken for retransmissions. */
  if (cfg->first_msg_id) c->next_id = cfg->first_msg_id;
  else {
    random_bytes(c, r, 2);
    c->next_id = (uint16_t)(r[0] << 8 | r[1]);
    if (!c->next_id) c->next_id = 1;
  }
  c->state = AVI_IDLE;
  return AVI_OK;
}

int avi_client_connect(avi_client_t *c) {
  if (c->state == AVI_CLOSED) return AVI_ERR_STATE;
  if (c->state == AVI_CONNECTED || c->connecting) return AVI_OK;
  c->connecting = 1;
  c->connect_deadline = now_ms(c) + c->connect_timeout;
  c->depth++;
  if (c->state != AVI_RECONNECTING) {
    if (!c->gw_known) start_search(c);
    else start_handshake(c, AVI_HANDSHAKING);
  }
  c->depth--;
  return AVI_OK;
}

int avi_client_input(avi_client_t *c, const uint8_t *data, size_t len,
                     const avi_addr_t *from) {
  if (c->busy) return AVI_ERR_BUSY;
  if (!data || !from) return AVI_ERR_ARG;
  if (len > c->max_frame) {
    c->stats.frames_received++;
    c->stats.frames_dropped++;
    return AVI_OK;
  }
  if (data != c->rx && len) memcpy(c->rx, data, len);
  c->busy = 1;
  c->depth++;
  on_datagram(c, len, from);
  /* The answers to the frame (and what the callbacks sent) leave now. */
  sub_sync(c);
  collect(c);
  flush(c);
  c->depth--;
  c->busy = 0;
  return AVI_OK;
}

void avi_client_tick(avi_client_t *c) {
  if (c->busy) return;
  c->busy = 1;
  c->depth++;
  do_tick(c);
  flush(c);
  c->depth--;
  c->busy = 0;
}

int avi_client_poll(avi_client_t *c, uint32_t timeout_ms) {
  uint32_t start;
  if (c->busy) return AVI_ERR_BUSY;
  if (!c->sock.recv) return AVI_ERR_ARG;
  start = now_ms(c);
  avi_client_tick(c);
  for (;;) {
    uint32_t elapsed = now_ms(c) - start, wait, next;
    avi_addr_t from;
    int n;
    if (elapsed >= timeout_ms) return 0;
    wait = timeout_ms - elapsed;
    next = avi_client_next_timeout(c);
    if (next < wait) wait = next;
    n = c->sock.recv(c->sock.ctx, c->rx, c->max_frame, &from, wait);
    if (n < 0) return AVI_ERR_SOCKET;
    if (n > 0) {
      avi_client_input(c, c->rx, (size_t)n, &from);
      avi_client_tick(c);
      return 1;
    }
    avi_client_tick(c);
  }
}

/* Sessions, for the calls that are kept until acknowledged. */
static int need_session(const avi_client_t *c) {
  return c->state != AVI_CLOSED && c->ever;
}

/* Holds an acknowledged message: its msgId, or an error. */
static int reliable(avi_client_t *c, msg_t *m) {
  int r;
  if (!need_session(c)) return AVI_ERR_STATE;
  if (!pend_room(c, m->type)) return AVI_ERR_FULL;
  m->id = alloc_id(c);
  r = pend_add(c, m);
  if (r < 0) return r;
  kick(c);
  return m->id;
}

int avi_client_subscribe(avi_client_t *c, const char *topic) {
  long n = text_len(topic, 255);
  msg_t m;
  uint8_t *rec;
  int added = 0, r;
  if (n < 0) return AVI_ERR_ARG;
  if (!need_session(c)) return AVI_ERR_STATE;
  rec = t_find(c, TB(T_SUB), topic, (size_t)n, 0, 0);
  if (!rec) {
    rec = t_add(c, T_SUB, 0, topic, (size_t)n);
    if (!rec) return AVI_ERR_FULL;
    added = 1;
  }
  memset(&m, 0, sizeof m);
  m.type = M_SUBSCRIBE;
  m.s = topic;
  m.sn = (size_t)n;
  r = reliable(c, &m);
  rec = t_find(c, TB(T_SUB), topic, (size_t)n, 0, 0);
  if (r < 0 && added && rec) t_del(c, rec);
  else if (r >= 0 && rec) put16(rec + 2, 0);
  return r;
}

int avi_client_unsubscribe(avi_client_t *c, const char *topic) {
  long n = text_len(topic, 255);
  msg_t m;
  uint8_t *rec;
  if (n < 0) return AVI_ERR_ARG;
  if (!need_session(c)) return AVI_ERR_STATE;
  rec = t_find(c, TB(T_SUB), topic, (size_t)n, 0, 0);
  if (rec) t_del(c, rec);
  memset(&m, 0, sizeof m);
  m.type = M_UNSUBSCRIBE;
  m.s = topic;
  m.sn = (size_t)n;
  return reliable(c, &m);
}

/* Registers an uplink alias for a long topic published at QoS 0; the alias
 * is used once the gateway acknowledged it (docs/PROTOCOL.md 4.3). */
static void maybe_register(avi_client_t *c, const char *topic, size_t n) {
  msg_t m;
  uint8_t *rec;
  if (!c->max_aliases || n < c->alias_min || !c->next_alias ||
      memchr(topic, '+', n) || memchr(topic, '#', n) ||
      t_find(c, T_UP_ANY, topic, n, 0, 0) || t_count(c, T_UP_ANY) >= c->max_aliases ||
      !pend_room(c, M_REGISTER))
    return;
  rec = t_add(c, T_UP_PENDING, c->next_alias, topic, n);
  if (!rec) return;
  memset(&m, 0, sizeof m);
  m.type = M_REGISTER;
  m.id = alloc_id(c);
  m.alias = c->next_alias;
  m.s = topic;
  m.sn = n;
  if (pend_add(c, &m) < 0) {
    t_del(c, rec);
    return;
  }
  c->next_alias = c->next_alias == 0xffff ? 0 : (uint16_t)(c->next_alias + 1);
}

int avi_client_publish(avi_client_t *c, const char *topic, const uint8_t *data,
                       size_t len, int qos) {
  long n = text_len(topic, 255);
  msg_t m;
  int r;
  if (n < 0 || (qos != 0 && qos != 1) || (len && !data) || len > 0xffff) return AVI_ERR_ARG;
  memset(&m, 0, sizeof m);
  m.type = M_PUBLISH;
  m.a = (uint8_t)qos;
  m.s = topic;
  m.sn = (size_t)n;
  m.d = data;
  m.dn = len;
  /* QoS 1 always carries its topic: a retransmission repeats its bytes. */
  if (qos == 1) return reliable(c, &m);
  if (c->state != AVI_CONNECTED) return AVI_ERR_STATE;
  {
    const uint8_t *rec = t_find(c, TB(T_UP), topic, (size_t)n, 0, 0);
    if (rec) m.alias = (uint16_t)get16(rec + 2);
  }
  r = out_msg(c, &m);
  if (r < 0) return r;
  if (m.alias) c->stats.aliased++;
  maybe_register(c, topic, (size_t)n);
  kick(c);
  return AVI_OK;
}

int avi_client_button(avi_client_t *c, uint8_t button_id, avi_press_t press,
                      const uint8_t *custom, size_t custom_len) {
  msg_t m;
  if ((unsigned)press > AVI_PRESS_LONG || (custom_len && !custom) || custom_len > 0xffff)
    return AVI_ERR_ARG;
  memset(&m, 0, sizeof m);
  m.type = M_BUTTON;
  m.a = button_id;
  m.b = (uint8_t)press;
  m.has_d = custom != NULL;
  m.d = custom;
  m.dn = custom_len;
  return reliable(c, &m);
}

int avi_client_sensor(avi_client_t *c, const char *name, avi_sensor_kind_t kind,
                      double value, const uint8_t *custom, size_t custom_len) {
  long n = text_len(name, 64);
  msg_t m;
  if (n < 0 || (custom_len && !custom) || custom_len > 0xffff) return AVI_ERR_ARG;
  memset(&m, 0, sizeof m);
  m.type = M_SENSOR;
  m.a = (uint8_t)kind;
  switch (kind) {
  case AVI_SENSOR_TEMPERATURE:
  case AVI_SENSOR_HUMIDITY: {
    float v;
    if ((value > FLT_MAX && value <= DBL_MAX) || (value < -FLT_MAX && value >= -DBL_MAX))
      return AVI_ERR_ARG;
    v = (float)value;
    memcpy(&m.u, &v, 4);
    break;
  }
  case AVI_SENSOR_BATTERY:
    if (!(value >= 0 && value <= 255) || value != (double)(uint8_t)value) return AVI_ERR_ARG;
    m.u = (uint8_t)value;
    break;
  case AVI_SENSOR_STATUS:
    m.u = value != 0;
    break;
  case AVI_SENSOR_RAW:
    if (!(value >= -2147483648.0 && value <= 2147483647.0) ||
        value != (double)(int32_t)value)
      return AVI_ERR_ARG;
    m.u = (uint32_t)(int32_t)value;
    break;
  default:
    return AVI_ERR_ARG;
  }
  m.s = name;
  m.sn = (size_t)n;
  m.has_d = custom != NULL;
  m.d = custom;
  m.dn = custom_len;
  return reliable(c, &m);
}

static avi_stream_t *stream_slot(avi_client_t *c, uint8_t id, int create) {
  unsigned i;
  for (i = 0; i < AVI_MAX_STREAMS; i++)
    if (c->streams[i].used && c->streams[i].id == id) return &c->streams[i];
  if (!create) return NULL;
  for (i = 0; i < AVI_MAX_STREAMS; i++)
    if (!c->streams[i].used) {
      c->streams[i].used = 1;
      c->streams[i].id = id;
      c->streams[i].seq = 0;
      return &c->streams[i];
    }
  return NULL;
}

int avi_client_stream_start(avi_client_t *c, uint8_t stream_id,
                            const char *target_peer, const char *reason) {
  long pn = text_len(target_peer, 255), rn = text_len(reason, 255);
  msg_t m;
  avi_stream_t *s;
  int had, r;
  if (pn < 0 || rn < 0) return AVI_ERR_ARG;
  if (!need_session(c)) return AVI_ERR_STATE;
  had = stream_slot(c, stream_id, 0) != NULL;
  s = stream_slot(c, stream_id, 1);
  if (!s) return AVI_ERR_FULL;
  memset(&m, 0, sizeof m);
  m.type = M_STREAM_START;
  m.a = stream_id;
  m.s = target_peer;
  m.sn = (size_t)pn;
  m.s2 = reason;
  m.s2n = (size_t)rn;
  r = reliable(c, &m);
  if (r < 0 && !had) s->used = 0;
  else if (r >= 0) s->seq = 0; /* its sequence numbers start again */
  return r;
}

int avi_client_stream_send(avi_client_t *c, uint8_t stream_id, const uint8_t *data,
                           size_t len) {
  msg_t m;
  avi_stream_t *s;
  int r;
  if ((len && !data) || len > 0xffff) return AVI_ERR_ARG;
  if (c->state != AVI_CONNECTED) return AVI_ERR_STATE;
  s = stream_slot(c, stream_id, 1);
  if (!s) return AVI_ERR_FULL;
  memset(&m, 0, sizeof m);
  m.type = M_STREAM_DATA;
  m.a = stream_id;
  m.u = s->seq;
  m.d = data;
  m.dn = len;
  r = out_msg(c, &m);
  if (r < 0) return r;
  s->seq++;
  kick(c);
  return AVI_OK;
}

int avi_client_stream_close(avi_client_t *c, uint8_t stream_id, uint8_t code) {
  avi_stream_t *s;
  msg_t m;
  int r;
  if (c->state != AVI_CONNECTED) return AVI_ERR_STATE;
  memset(&m, 0, sizeof m);
  m.type = M_STREAM_CLOSE;
  m.a = stream_id;
  m.b = code;
  r = out_msg(c, &m);
  if (r < 0) return r;
  s = stream_slot(c, stream_id, 0);
  if (s) s->used = 0;
  kick(c);
  return AVI_OK;
}

int avi_client_ping(avi_client_t *c) {
  uint32_t t = now_ms(c);
  int r;
  if (c->state != AVI_CONNECTED) return AVI_ERR_STATE;
  r = 0;
  if (!c->ping_tx) {
    c->ping_tx = 1;
    c->ping_first = t;
    c->ping_next = t + delay(c, 1);
  }
  out_simple(c, M_PING, 0, 0);
  kick(c);
  return r;
}

int avi_client_sleep(avi_client_t *c, uint32_t seconds) {
  msg_t m;
  uint32_t ms;
  if (seconds == 0) return AVI_ERR_ARG;
  if (c->state != AVI_CONNECTED) return AVI_ERR_STATE;
  c->depth++;
  collect(c);
  memset(&m, 0, sizeof m);
  m.type = M_DISCONNECT;
  m.u = seconds;
  (void)out_msg(c, &m);
  flush(c);
  c->depth--;
  /* The keep-alive Ping falls due when the sleep ends: it wakes the session. */
  ms = seconds > 2000000u ? 2000000000u : seconds * 1000u;
  c->ping_tx = 0;
  c->last_sent = now_ms(c) + ms - c->keepalive_ms;
  return AVI_OK;
}

void avi_client_batch_begin(avi_client_t *c) { c->depth++; }

void avi_client_batch_end(avi_client_t *c) {
  if (c->depth) c->depth--;
  if (!c->busy) kick(c);
}

void avi_client_close(avi_client_t *c) {
  if (c->state == AVI_CLOSED) return;
  if (c->state == AVI_CONNECTED) {
    msg_t m;
    c->depth++;
    collect(c);
    memset(&m, 0, sizeof m);
    m.type = M_DISCONNECT;
    (void)out_msg(c, &m);
    flush(c);
    c->depth--;
  }
  c->connecting = 0;
  c->pend_n = 0;
  c->store_len = 0;
  c->out_n = 0;
  c->out_len = 0;
  memset(c->k_d2g, 0, 32);
  memset(c->k_g2d, 0, 32);
  set_state(c, AVI_CLOSED);
}

avi_state_t avi_client_state(const avi_client_t *c) { return (avi_state_t)c->state; }
const avi_stats_t *avi_client_stats(const avi_client_t *c) { return &c->stats; }
unsigned avi_client_pending(const avi_client_t *c) { return c->pend_n; }
uint16_t avi_client_frame(const avi_client_t *c) { return c->ever ? c->frame : 0; }
uint32_t avi_client_session_id(const avi_client_t *c) { return c->sid; }
uint32_t avi_client_gateway_id(const avi_client_t *c) { return c->gateway_id; }
uint32_t avi_client_keepalive_s(const avi_client_t *c) { return c->keepalive_ms / 1000u; }
const avi_addr_t *avi_client_gateway(const avi_client_t *c) {
  return c->gw_known ? &c->gw : NULL;
}

const char *avi_code_name(int code) {
  static const char *const names[] = {
      "ok", "malformed", "unknown session", "not authorised", "too large",
      "rate limited", "unsupported version", "not permitted", "limit reached",
      "unknown stream", "unknown alias", "replayed", "unavailable",
      "internal error"};
  return code >= 0 && code < (int)(sizeof names / sizeof names[0]) ? names[code]
                                                                  : "unknown code";
}

const char *avi_err_name(int err) {
  switch (err) {
  case AVI_ERR_ARG: return "bad argument";
  case AVI_ERR_STATE: return "not connected";
  case AVI_ERR_FULL: return "queue full";
  case AVI_ERR_TOO_LARGE: return "too large";
  case AVI_ERR_CRYPTO: return "crypto failure";
  case AVI_ERR_SOCKET: return "socket error";
  case AVI_ERR_BUSY: return "called from a callback";
  default: return err >= 0 ? "ok" : "unknown error";
  }
}
