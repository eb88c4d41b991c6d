/*
 * avi_crypto_builtin.h: the crypto port in portable C, with no library:
 * ChaCha20-Poly1305 (RFC 8439), SHA-256, HMAC-SHA256 and HKDF-SHA256. For
 * boards whose crypto library lacks ChaCha20-Poly1305 (Arduino's ESP32
 * core), and for tools. Stateless: every call works on the stack
 * (about 0.5 KiB at most).
 *
 *   avi_crypto_t crypto;
 *   avi_crypto_builtin_init(&crypto);
 */
#ifndef AVI_CRYPTO_BUILTIN_H
#define AVI_CRYPTO_BUILTIN_H

#include "avi_client.h"

#ifdef __cplusplus
extern "C" {
#endif

void avi_crypto_builtin_init(avi_crypto_t *crypto);

#ifdef __cplusplus
}
#endif
#endif
