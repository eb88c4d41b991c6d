/*
 * avi_crypto_mbedtls.c: ChaCha20-Poly1305 and HMAC-SHA256 from mbedTLS 2.28
 * or 3.x; HKDF-SHA256 on that HMAC. On Arduino it is built only when
 * AVI_ARDUINO_MBEDTLS is defined (the ESP32 core's mbedTLS has no
 * ChaCha20-Poly1305: the sketch uses avi_crypto_builtin there).
 */
#if !defined(ARDUINO) || defined(AVI_ARDUINO_MBEDTLS)

#include "avi_crypto_mbedtls.h"

#include <string.h>

#if !defined(MBEDTLS_CHACHAPOLY_C)
#error "avi_crypto_mbedtls needs MBEDTLS_CHACHAPOLY_C (ESP-IDF: CONFIG_MBEDTLS_CHACHA20_C, CONFIG_MBEDTLS_POLY1305_C, CONFIG_MBEDTLS_CHACHAPOLY_C)"
#endif

static int hmac(void *ctx, const uint8_t *key, size_t key_len,
                const avi_bytes_t *parts, size_t n_parts, uint8_t out[32]) {
  mbedtls_md_context_t *md = &((avi_mbedtls_t *)ctx)->md;
  size_t i;
  if (mbedtls_md_hmac_starts(md, key, key_len)) return -1;
  for (i = 0; i < n_parts; i++)
    if (parts[i].n && mbedtls_md_hmac_update(md, parts[i].p, parts[i].n)) return -1;
  return mbedtls_md_hmac_finish(md, out) ? -1 : 0;
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

static int seal(void *ctx, const uint8_t key[32], const uint8_t nonce[12],
                const uint8_t *aad, size_t aad_len, uint8_t *buf, size_t len,
                uint8_t tag[16]) {
  mbedtls_chachapoly_context *a = &((avi_mbedtls_t *)ctx)->aead;
  if (mbedtls_chachapoly_setkey(a, key)) return -1;
  return mbedtls_chachapoly_encrypt_and_tag(a, len, nonce, aad, aad_len, buf, buf, tag)
             ? -1
             : 0;
}

static int open_(void *ctx, const uint8_t key[32], const uint8_t nonce[12],
                 const uint8_t *aad, size_t aad_len, uint8_t *buf, size_t len,
                 const uint8_t tag[16]) {
  mbedtls_chachapoly_context *a = &((avi_mbedtls_t *)ctx)->aead;
  if (mbedtls_chachapoly_setkey(a, key)) return -1;
  return mbedtls_chachapoly_auth_decrypt(a, len, nonce, aad, aad_len, tag, buf, buf) ? -1
                                                                                     : 0;
}

void avi_crypto_mbedtls_free(avi_mbedtls_t *st) {
  mbedtls_chachapoly_free(&st->aead);
  mbedtls_md_free(&st->md);
}

int avi_crypto_mbedtls_init(avi_crypto_t *crypto, avi_mbedtls_t *st) {
  const mbedtls_md_info_t *sha256 = mbedtls_md_info_from_type(MBEDTLS_MD_SHA256);
  mbedtls_chachapoly_init(&st->aead);
  mbedtls_md_init(&st->md);
  if (!sha256 || mbedtls_md_setup(&st->md, sha256, 1)) {
    avi_crypto_mbedtls_free(st);
    return AVI_ERR_CRYPTO;
  }
  memset(crypto, 0, sizeof *crypto);
  crypto->ctx = st;
  crypto->hmac_sha256 = hmac;
  crypto->hkdf_sha256 = hkdf;
  crypto->aead_seal = seal;
  crypto->aead_open = open_;
  return 0;
}

#else
typedef int avi_crypto_mbedtls_unused; /* not for this platform */
#endif
