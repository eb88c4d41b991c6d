/*
 * avi_crypto_openssl.c: ChaCha20-Poly1305 and HMAC-SHA256 from OpenSSL 3
 * libcrypto; HKDF-SHA256 on that HMAC. Not built for Arduino or ESP-IDF.
 */
#if !defined(ARDUINO) && !defined(ESP_PLATFORM)

#include "avi_crypto_openssl.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <string.h>

static int hmac(void *ctx, const uint8_t *key, size_t key_len,
                const avi_bytes_t *parts, size_t n_parts, uint8_t out[32]) {
  avi_openssl_t *st = (avi_openssl_t *)ctx;
  EVP_MAC_CTX *m = (EVP_MAC_CTX *)st->mac_ctx;
  OSSL_PARAM params[2];
  size_t i, outl = 0;
  params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0);
  params[1] = OSSL_PARAM_construct_end();
  if (!EVP_MAC_init(m, key, key_len, params)) return -1;
  for (i = 0; i < n_parts; i++)
    if (parts[i].n && !EVP_MAC_update(m, parts[i].p, parts[i].n)) return -1;
  if (!EVP_MAC_final(m, out, &outl, 32) || outl != 32) return -1;
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

static int seal(void *ctx, const uint8_t key[32], const uint8_t nonce[12],
                const uint8_t *aad, size_t aad_len, uint8_t *buf, size_t len,
                uint8_t tag[16]) {
  avi_openssl_t *st = (avi_openssl_t *)ctx;
  EVP_CIPHER_CTX *c = (EVP_CIPHER_CTX *)st->cipher;
  int l;
  uint8_t end[16];
  if (len > 0x7fffffff || aad_len > 0x7fffffff ||
      !EVP_EncryptInit_ex2(c, (EVP_CIPHER *)st->aead, key, nonce, NULL) ||
      (aad_len && !EVP_EncryptUpdate(c, NULL, &l, aad, (int)aad_len)) ||
      (len && !EVP_EncryptUpdate(c, buf, &l, buf, (int)len)) ||
      !EVP_EncryptFinal_ex(c, end, &l) ||
      !EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_GET_TAG, 16, tag))
    return -1;
  return 0;
}

static int open_(void *ctx, const uint8_t key[32], const uint8_t nonce[12],
                 const uint8_t *aad, size_t aad_len, uint8_t *buf, size_t len,
                 const uint8_t tag[16]) {
  avi_openssl_t *st = (avi_openssl_t *)ctx;
  EVP_CIPHER_CTX *c = (EVP_CIPHER_CTX *)st->cipher;
  int l;
  uint8_t t[16], end[16];
  memcpy(t, tag, 16);
  if (len > 0x7fffffff || aad_len > 0x7fffffff ||
      !EVP_DecryptInit_ex2(c, (EVP_CIPHER *)st->aead, key, nonce, NULL) ||
      (aad_len && !EVP_DecryptUpdate(c, NULL, &l, aad, (int)aad_len)) ||
      (len && !EVP_DecryptUpdate(c, buf, &l, buf, (int)len)) ||
      !EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_TAG, 16, t))
    return -1;
  return EVP_DecryptFinal_ex(c, end, &l) > 0 ? 0 : -1;
}

void avi_crypto_openssl_free(avi_openssl_t *st) {
  EVP_CIPHER_free((EVP_CIPHER *)st->aead);
  EVP_CIPHER_CTX_free((EVP_CIPHER_CTX *)st->cipher);
  EVP_MAC_CTX_free((EVP_MAC_CTX *)st->mac_ctx);
  EVP_MAC_free((EVP_MAC *)st->mac);
  memset(st, 0, sizeof *st);
}

int avi_crypto_openssl_init(avi_crypto_t *crypto, avi_openssl_t *st) {
  memset(st, 0, sizeof *st);
  st->aead = EVP_CIPHER_fetch(NULL, "ChaCha20-Poly1305", NULL);
  st->cipher = EVP_CIPHER_CTX_new();
  st->mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
  st->mac_ctx = st->mac ? EVP_MAC_CTX_new((EVP_MAC *)st->mac) : NULL;
  if (!st->aead || !st->cipher || !st->mac_ctx) {
    avi_crypto_openssl_free(st);
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
typedef int avi_crypto_openssl_unused; /* not for this platform */
#endif
