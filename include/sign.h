/* sign.h - hashes and the province gateway signature (OpenSSL libcrypto). */
#ifndef EPSYNC_SIGN_H
#define EPSYNC_SIGN_H

#include <stddef.h>

/* Lowercase hex SHA-256 of data into out (65 bytes). */
void sign_sha256_hex(const void *data, size_t len, char out[65]);
/* Lowercase hex HMAC-SHA256(key, msg) into out (65 bytes). */
void sign_hmac_sha256_hex(const char *key, const void *msg, size_t len, char out[65]);
/* The province's X-Signature (docs/protocols.md): HMAC-SHA256(secret,
 * METHOD\nPATH\nTIMESTAMP\nNONCE\nhex(SHA-256(body))). */
void sign_province(const char *secret, const char *method, const char *path,
                   const char *timestamp, const char *nonce, const void *body,
                   size_t body_len, char out[65]);
/* n random lowercase hex digits from the CSPRNG into out (n+1 bytes);
 * 0 ok, -1 when the generator fails. */
int sign_random_hex(char *out, size_t n);
/* Standard base64 (with padding) of n bytes, appended to out. */
struct buf;
void sign_base64(const void *data, size_t n, struct buf *out);
/* Overwrite n bytes at p (OPENSSL_cleanse: not optimised away); p may be NULL. */
void sign_wipe(void *p, size_t n);
/* sign_wipe() of a string's bytes, then free(). */
void sign_wipe_free(char *s);
/* A random (version 4) UUID, 36 chars + NUL. */
int sign_uuid(char out[37]);

#endif
