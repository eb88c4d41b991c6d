/*
 * avi_crypto_mbedtls.h: the crypto port on mbedTLS (ESP-IDF's crypto
 * library). Uses only calls that mbedTLS 2.28 and 3.x both have:
 * mbedtls_chachapoly_* and mbedtls_md_hmac_* (HKDF is built on that HMAC,
 * so MBEDTLS_HKDF_C is not needed).
 *
 * ESP-IDF: ChaCha20-Poly1305 is off by default; enable it (sdkconfig or
 * sdkconfig.defaults): CONFIG_MBEDTLS_CHACHA20_C=y, CONFIG_MBEDTLS_POLY1305_C=y,
 * CONFIG_MBEDTLS_CHACHAPOLY_C=y. Linux: link with -lmbedcrypto.
 *
 * The HMAC context is set up (allocated by mbedTLS) once, at init; each
 * call reuses it, so nothing is allocated per frame or per handshake.
 */
#ifndef AVI_CRYPTO_MBEDTLS_H
#define AVI_CRYPTO_MBEDTLS_H

#include "avi_client.h"

#include <mbedtls/chachapoly.h>
#include <mbedtls/md.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
  mbedtls_chachapoly_context aead;
  mbedtls_md_context_t md;
} avi_mbedtls_t;

/* Fills crypto; returns 0, or AVI_ERR_CRYPTO (st is then freed). */
int avi_crypto_mbedtls_init(avi_crypto_t *crypto, avi_mbedtls_t *st);
void avi_crypto_mbedtls_free(avi_mbedtls_t *st);

#ifdef __cplusplus
}
#endif
#endif
