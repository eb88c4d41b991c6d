/*
 * avi_crypto_builtin.c: ChaCha20-Poly1305 (RFC 8439), SHA-256 (FIPS 180-4)
 * and HMAC-SHA256 (RFC 2104) in portable C99; HKDF-SHA256 on that HMAC.
 * Poly1305 uses 26-bit limbs (32x32->64 multiplies, fine on 32-bit MCUs).
 * Tags are compared in constant time; nothing is decrypted before the tag
 * verifies.
 */
#include "avi_crypto_builtin.h"

#include <string.h>

static uint32_t ld32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static void st32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)v;
  p[1] = (uint8_t)(v >> 8);
  p[2] = (uint8_t)(v >> 16);
  p[3] = (uint8_t)(v >> 24);
}
static uint32_t rotl(uint32_t v, int n) { return v << n | v >> (32 - n); }

/* ---------------------------------------------------------------- ChaCha20 */

#define QR(a, b, c, d)                    \
  a += b, d = rotl(d ^ a, 16);            \
  c += d, b = rotl(b ^ c, 12);            \
  a += b, d = rotl(d ^ a, 8);             \
  c += d, b = rotl(b ^ c, 7)

static void chacha_block(const uint8_t key[32], uint32_t counter, const uint8_t nonce[12],
                         uint8_t out[64]) {
  uint32_t s[16], x[16];
  int i;
  s[0] = 0x61707865;
  s[1] = 0x3320646e;
  s[2] = 0x79622d32;
  s[3] = 0x6b206574;
  for (i = 0; i < 8; i++) s[4 + i] = ld32(key + 4 * i);
  s[12] = counter;
  for (i = 0; i < 3; i++) s[13 + i] = ld32(nonce + 4 * i);
  memcpy(x, s, sizeof x);
  for (i = 0; i < 10; i++) {
    QR(x[0], x[4], x[8], x[12]);
    QR(x[1], x[5], x[9], x[13]);
    QR(x[2], x[6], x[10], x[14]);
    QR(x[3], x[7], x[11], x[15]);
    QR(x[0], x[5], x[10], x[15]);
    QR(x[1], x[6], x[11], x[12]);
    QR(x[2], x[7], x[8], x[13]);
    QR(x[3], x[4], x[9], x[14]);
  }
  for (i = 0; i < 16; i++) st32(out + 4 * i, x[i] + s[i]);
  memset(x, 0, sizeof x);
  memset(s, 0, sizeof s);
}

static void chacha_xor(const uint8_t key[32], const uint8_t nonce[12], uint8_t *buf,
                       size_t len) {
  uint8_t ks[64];
  uint32_t counter = 1;
  while (len) {
    size_t k = len < 64 ? len : 64, i;
    chacha_block(key, counter++, nonce, ks);
    for (i = 0; i < k; i++) buf[i] ^= ks[i];
    buf += k;
    len -= k;
  }
  memset(ks, 0, sizeof ks);
}

/* ---------------------------------------------------------------- Poly1305 */

typedef struct {
  uint32_t r[5], h[5], pad[4];
} poly_t;

static void poly_init(poly_t *p, const uint8_t key[32]) {
  p->r[0] = ld32(key + 0) & 0x3ffffff;
  p->r[1] = (ld32(key + 3) >> 2) & 0x3ffff03;
  p->r[2] = (ld32(key + 6) >> 4) & 0x3ffc0ff;
  p->r[3] = (ld32(key + 9) >> 6) & 0x3f03fff;
  p->r[4] = (ld32(key + 12) >> 8) & 0x00fffff;
  memset(p->h, 0, sizeof p->h);
  p->pad[0] = ld32(key + 16);
  p->pad[1] = ld32(key + 20);
  p->pad[2] = ld32(key + 24);
  p->pad[3] = ld32(key + 28);
}

/* One full 16-byte block (the AEAD pads every part to 16 bytes). */
static void poly_block(poly_t *p, const uint8_t *m) {
  uint32_t hibit = 1u << 24, *r = p->r, *h = p->h;
  uint32_t s1 = r[1] * 5, s2 = r[2] * 5, s3 = r[3] * 5, s4 = r[4] * 5, c;
  uint64_t d0, d1, d2, d3, d4;
  h[0] += ld32(m + 0) & 0x3ffffff;
  h[1] += (ld32(m + 3) >> 2) & 0x3ffffff;
  h[2] += (ld32(m + 6) >> 4) & 0x3ffffff;
  h[3] += (ld32(m + 9) >> 6) & 0x3ffffff;
  h[4] += (ld32(m + 12) >> 8) | hibit;
  d0 = (uint64_t)h[0] * r[0] + (uint64_t)h[1] * s4 + (uint64_t)h[2] * s3 +
       (uint64_t)h[3] * s2 + (uint64_t)h[4] * s1;
  d1 = (uint64_t)h[0] * r[1] + (uint64_t)h[1] * r[0] + (uint64_t)h[2] * s4 +
       (uint64_t)h[3] * s3 + (uint64_t)h[4] * s2;
  d2 = (uint64_t)h[0] * r[2] + (uint64_t)h[1] * r[1] + (uint64_t)h[2] * r[0] +
       (uint64_t)h[3] * s4 + (uint64_t)h[4] * s3;
  d3 = (uint64_t)h[0] * r[3] + (uint64_t)h[1] * r[2] + (uint64_t)h[2] * r[1] +
       (uint64_t)h[3] * r[0] + (uint64_t)h[4] * s4;
  d4 = (uint64_t)h[0] * r[4] + (uint64_t)h[1] * r[3] + (uint64_t)h[2] * r[2] +
       (uint64_t)h[3] * r[1] + (uint64_t)h[4] * r[0];
  c = (uint32_t)(d0 >> 26);
  h[0] = (uint32_t)d0 & 0x3ffffff;
  d1 += c;
  c = (uint32_t)(d1 >> 26);
  h[1] = (uint32_t)d1 & 0x3ffffff;
  d2 += c;
  c = (uint32_t)(d2 >> 26);
  h[2] = (uint32_t)d2 & 0x3ffffff;
  d3 += c;
  c = (uint32_t)(d3 >> 26);
  h[3] = (uint32_t)d3 & 0x3ffffff;
  d4 += c;
  c = (uint32_t)(d4 >> 26);
  h[4] = (uint32_t)d4 & 0x3ffffff;
  h[0] += c * 5;
  c = h[0] >> 26;
  h[0] &= 0x3ffffff;
  h[1] += c;
}

/* Absorbs bytes as whole blocks, the last one zero-padded to 16. */
static void poly_padded(poly_t *p, const uint8_t *m, size_t n) {
  uint8_t b[16];
  while (n >= 16) {
    poly_block(p, m);
    m += 16;
    n -= 16;
  }
  if (n) {
    memset(b, 0, sizeof b);
    memcpy(b, m, n);
    poly_block(p, b);
  }
}

static void poly_finish(poly_t *p, uint8_t tag[16]) {
  uint32_t *h = p->h, c, g0, g1, g2, g3, g4, mask;
  uint64_t f;
  c = h[1] >> 26; h[1] &= 0x3ffffff;
  h[2] += c; c = h[2] >> 26; h[2] &= 0x3ffffff;
  h[3] += c; c = h[3] >> 26; h[3] &= 0x3ffffff;
  h[4] += c; c = h[4] >> 26; h[4] &= 0x3ffffff;
  h[0] += c * 5; c = h[0] >> 26; h[0] &= 0x3ffffff;
  h[1] += c;
  /* h - p = h + 5 - 2^130 */
  g0 = h[0] + 5; c = g0 >> 26; g0 &= 0x3ffffff;
  g1 = h[1] + c; c = g1 >> 26; g1 &= 0x3ffffff;
  g2 = h[2] + c; c = g2 >> 26; g2 &= 0x3ffffff;
  g3 = h[3] + c; c = g3 >> 26; g3 &= 0x3ffffff;
  g4 = h[4] + c - (1u << 26);
  mask = (g4 >> 31) - 1; /* all ones when h >= p */
  g0 &= mask; g1 &= mask; g2 &= mask; g3 &= mask; g4 &= mask;
  mask = ~mask;
  h[0] = (h[0] & mask) | g0;
  h[1] = (h[1] & mask) | g1;
  h[2] = (h[2] & mask) | g2;
  h[3] = (h[3] & mask) | g3;
  h[4] = (h[4] & mask) | g4;
  h[0] = h[0] | h[1] << 26;
  h[1] = h[1] >> 6 | h[2] << 20;
  h[2] = h[2] >> 12 | h[3] << 14;
  h[3] = h[3] >> 18 | h[4] << 8;
  f = (uint64_t)h[0] + p->pad[0]; st32(tag + 0, (uint32_t)f);
  f = (uint64_t)h[1] + p->pad[1] + (f >> 32); st32(tag + 4, (uint32_t)f);
  f = (uint64_t)h[2] + p->pad[2] + (f >> 32); st32(tag + 8, (uint32_t)f);
  f = (uint64_t)h[3] + p->pad[3] + (f >> 32); st32(tag + 12, (uint32_t)f);
  memset(p, 0, sizeof *p);
}

/* The AEAD tag over aad and ciphertext (RFC 8439 2.8). */
static void aead_tag(const uint8_t key[32], const uint8_t nonce[12], const uint8_t *aad,
                     size_t aad_len, const uint8_t *ct, size_t len, uint8_t tag[16]) {
  uint8_t otk[64], lens[16];
  poly_t p;
  chacha_block(key, 0, nonce, otk);
  poly_init(&p, otk);
  memset(otk, 0, sizeof otk);
  poly_padded(&p, aad, aad_len);
  poly_padded(&p, ct, len);
  st32(lens, (uint32_t)aad_len);
  st32(lens + 4, (uint32_t)((uint64_t)aad_len >> 32));
  st32(lens + 8, (uint32_t)len);
  st32(lens + 12, (uint32_t)((uint64_t)len >> 32));
  poly_block(&p, lens);
  poly_finish(&p, tag);
}

static int seal(void *ctx, const uint8_t key[32], const uint8_t nonce[12],
                const uint8_t *aad, size_t aad_len, uint8_t *buf, size_t len,
                uint8_t tag[16]) {
  (void)ctx;
  chacha_xor(key, nonce, buf, len);
  aead_tag(key, nonce, aad, aad_len, buf, len, tag);
  return 0;
}

static int open_(void *ctx, const uint8_t key[32], const uint8_t nonce[12],
                 const uint8_t *aad, size_t aad_len, uint8_t *buf, size_t len,
                 const uint8_t tag[16]) {
  uint8_t t[16], diff = 0;
  int i;
  (void)ctx;
  aead_tag(key, nonce, aad, aad_len, buf, len, t);
  for (i = 0; i < 16; i++) diff |= (uint8_t)(t[i] ^ tag[i]);
  if (diff) return -1;
  chacha_xor(key, nonce, buf, len);
  return 0;
}

/* ---------------------------------------------------------------- SHA-256 */

typedef struct {
  uint32_t h[8];
  uint64_t len;
  uint8_t buf[64];
  size_t n;
} sha_t;

static const uint32_t K[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
    0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
    0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
    0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
    0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
    0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
    0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
    0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
    0xc67178f2};

static uint32_t rotr(uint32_t v, int n) { return v >> n | v << (32 - n); }

static void sha_compress(sha_t *s, const uint8_t *b) {
  uint32_t w[64], a, bb, c, d, e, f, g, h, t1, t2;
  int i;
  for (i = 0; i < 16; i++)
    w[i] = (uint32_t)b[4 * i] << 24 | (uint32_t)b[4 * i + 1] << 16 |
           (uint32_t)b[4 * i + 2] << 8 | b[4 * i + 3];
  for (i = 16; i < 64; i++)
    w[i] = (rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >> 10)) + w[i - 7] +
           (rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >> 3)) + w[i - 16];
  a = s->h[0]; bb = s->h[1]; c = s->h[2]; d = s->h[3];
  e = s->h[4]; f = s->h[5]; g = s->h[6]; h = s->h[7];
  for (i = 0; i < 64; i++) {
    t1 = h + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + K[i] + w[i];
    t2 = (rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & bb) ^ (a & c) ^ (bb & c));
    h = g; g = f; f = e; e = d + t1;
    d = c; c = bb; bb = a; a = t1 + t2;
  }
  s->h[0] += a; s->h[1] += bb; s->h[2] += c; s->h[3] += d;
  s->h[4] += e; s->h[5] += f; s->h[6] += g; s->h[7] += h;
}

static void sha_init(sha_t *s) {
  static const uint32_t iv[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
  memcpy(s->h, iv, sizeof iv);
  s->len = 0;
  s->n = 0;
}

static void sha_update(sha_t *s, const uint8_t *p, size_t n) {
  s->len += n;
  while (n) {
    size_t k = 64 - s->n < n ? 64 - s->n : n;
    memcpy(s->buf + s->n, p, k);
    s->n += k;
    p += k;
    n -= k;
    if (s->n == 64) {
      sha_compress(s, s->buf);
      s->n = 0;
    }
  }
}

static void sha_final(sha_t *s, uint8_t out[32]) {
  uint64_t bits = s->len * 8;
  uint8_t one = 0x80, zero = 0, l[8];
  int i;
  sha_update(s, &one, 1);
  while (s->n != 56) sha_update(s, &zero, 1);
  for (i = 0; i < 8; i++) l[i] = (uint8_t)(bits >> (56 - 8 * i));
  sha_update(s, l, 8);
  for (i = 0; i < 8; i++) {
    out[4 * i] = (uint8_t)(s->h[i] >> 24);
    out[4 * i + 1] = (uint8_t)(s->h[i] >> 16);
    out[4 * i + 2] = (uint8_t)(s->h[i] >> 8);
    out[4 * i + 3] = (uint8_t)s->h[i];
  }
  memset(s, 0, sizeof *s);
}

static int hmac(void *ctx, const uint8_t *key, size_t key_len, const avi_bytes_t *parts,
                size_t n_parts, uint8_t out[32]) {
  uint8_t k[64], pad[64], inner[32];
  sha_t s;
  size_t i;
  (void)ctx;
  memset(k, 0, sizeof k);
  if (key_len > 64) {
    sha_init(&s);
    sha_update(&s, key, key_len);
    sha_final(&s, k);
  } else if (key_len) memcpy(k, key, key_len);
  for (i = 0; i < 64; i++) pad[i] = k[i] ^ 0x36;
  sha_init(&s);
  sha_update(&s, pad, 64);
  for (i = 0; i < n_parts; i++)
    if (parts[i].n) sha_update(&s, parts[i].p, parts[i].n);
  sha_final(&s, inner);
  for (i = 0; i < 64; i++) pad[i] = k[i] ^ 0x5c;
  sha_init(&s);
  sha_update(&s, pad, 64);
  sha_update(&s, inner, 32);
  sha_final(&s, out);
  memset(k, 0, sizeof k);
  memset(pad, 0, sizeof pad);
  return 0;
}

static int hkdf(void *ctx, const uint8_t *ikm, size_t ikm_len, const uint8_t *salt,
                size_t salt_len, const uint8_t *info, size_t info_len, uint8_t *okm,
                size_t okm_len) {
  avi_crypto_t self;
  memset(&self, 0, sizeof self);
  self.ctx = ctx;
  self.hmac_sha256 = hmac;
  return avi_hkdf_sha256_hmac(&self, ikm, ikm_len, salt, salt_len, info, info_len, okm,
                              okm_len);
}

void avi_crypto_builtin_init(avi_crypto_t *crypto) {
  memset(crypto, 0, sizeof *crypto);
  crypto->hmac_sha256 = hmac;
  crypto->hkdf_sha256 = hkdf;
  crypto->aead_seal = seal;
  crypto->aead_open = open_;
}
