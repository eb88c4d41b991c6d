/*
 * avi_crypto_openssl.h: the crypto port on OpenSSL 3 libcrypto (Linux
 * devices). Link with -lcrypto.
 *
 *   avi_openssl_t st;
 *   avi_crypto_t crypto;
 *   if (avi_crypto_openssl_init(&crypto, &st) != 0) ... ;
 *   ... avi_crypto_openssl_free(&st);
 *
 * The contexts are allocated once, by init; each call reuses them.
 */
#ifndef AVI_CRYPTO_OPENSSL_H
#define AVI_CRYPTO_OPENSSL_H

#include "avi_client.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
  void *aead;   /* EVP_CIPHER * (ChaCha20-Poly1305, fetched once) */
  void *cipher; /* EVP_CIPHER_CTX * */
  void *mac;    /* EVP_MAC * */
  void *mac_ctx; /* EVP_MAC_CTX * */
} avi_openssl_t;

/* Fills crypto; returns 0, or AVI_ERR_CRYPTO (st is then freed). */
int avi_crypto_openssl_init(avi_crypto_t *crypto, avi_openssl_t *st);
void avi_crypto_openssl_free(avi_openssl_t *st);

#ifdef __cplusplus
}
#endif
#endif
