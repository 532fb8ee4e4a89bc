/* sign.c - hashes, the province gateway signature, random tokens
 * (see sign.h).  Thin wrappers over OpenSSL libcrypto so that no other
 * module includes OpenSSL headers. */
#include "sign.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

/* SHA-256 and HMAC fail only when memory runs out; like the xalloc policy
 * of buf.h, that is fatal rather than a code path every caller checks. */
static void fatal(const char *what)
{
    fprintf(stderr, "epsync: %s failed\n", what);
    abort();
}

static void to_hex(const unsigned char *in, size_t n, char *out)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hex[in[i] >> 4];
        out[2 * i + 1] = hex[in[i] & 15];
    }
    out[2 * n] = '\0';
}

void sign_sha256_hex(const void *data, size_t len, char out[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (!EVP_Digest(data ? data : "", len, md, &mdlen, EVP_sha256(), NULL) || mdlen != 32)
        fatal("SHA-256");
    to_hex(md, 32, out);
}

void sign_hmac_sha256_hex(const char *key, const void *msg, size_t len, char out[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (!HMAC(EVP_sha256(), key, (int)strlen(key), msg ? msg : (const void *)"", len, md, &mdlen)
        || mdlen != 32)
        fatal("HMAC-SHA256");
    to_hex(md, 32, out);
}

void sign_province(const char *secret, const char *method, const char *path,
                   const char *timestamp, const char *nonce, const void *body,
                   size_t body_len, char out[65])
{
    char body_hash[65];
    struct buf s = BUF_INIT;

    sign_sha256_hex(body, body_len, body_hash);
    buf_printf(&s, "%s\n%s\n%s\n%s\n%s", method, path, timestamp, nonce, body_hash);
    sign_hmac_sha256_hex(secret, s.data, s.len, out);
    buf_free(&s);
}

int sign_random_hex(char *out, size_t n)
{
    unsigned char raw[64];
    size_t done = 0;
    while (done < n) {
        size_t want = (n - done + 1) / 2;
        if (want > sizeof raw)
            want = sizeof raw;
        if (RAND_bytes(raw, (int)want) != 1) {
            out[0] = '\0';
            return -1;
        }
        char hex[2 * sizeof raw + 1];
        to_hex(raw, want, hex);
        size_t take = 2 * want < n - done ? 2 * want : n - done;
        memcpy(out + done, hex, take);
        done += take;
    }
    out[n] = '\0';
    return 0;
}

int sign_uuid(char out[37])
{
    unsigned char b[16];
    char hex[33];
    if (RAND_bytes(b, sizeof b) != 1) {
        out[0] = '\0';
        return -1;
    }
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);   /* version 4 */
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);   /* RFC 4122 variant */
    to_hex(b, sizeof b, hex);
    memcpy(out, hex, 8);
    out[8] = '-';
    memcpy(out + 9, hex + 8, 4);
    out[13] = '-';
    memcpy(out + 14, hex + 12, 4);
    out[18] = '-';
    memcpy(out + 19, hex + 16, 4);
    out[23] = '-';
    memcpy(out + 24, hex + 20, 12);
    out[36] = '\0';
    return 0;
}

void sign_wipe(void *p, size_t n)
{
    if (p && n)
        OPENSSL_cleanse(p, n);
}

void sign_wipe_free(char *s)
{
    if (s)
        sign_wipe(s, strlen(s));
    free(s);
}

void sign_base64(const void *data, size_t n, struct buf *out)
{
    size_t len = 4 * ((n + 2) / 3);
    unsigned char *tmp = xmalloc(len + 1);
    EVP_EncodeBlock(tmp, data, (int)n);
    buf_append(out, (const char *)tmp, len);
    sign_wipe(tmp, len);
    free(tmp);
}
