/* anchor.c - see anchor.h; the line format is in docs/audit.md.
 *
 *   epsync-anchor/1 seq=812 hash=<64 hex> at=2026-12-02T01:40:00Z sig=<base64>
 *
 * The signature is Ed25519 (RFC 8032, pure) over every byte before " sig=". */
#include "anchor.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "audit.h"
#include "log.h"

#define ANCHOR_MAGIC "epsync-anchor/1 "
#define ANCHOR_MAX_LINE 512

struct anchor {
    EVP_PKEY *key;
    char *file;
    int64_t every_ms;
    int64_t next;            /* monotonic ms; 0: at the first tick */
    long long last_seq;      /* the head anchored last, -1: none yet */
};

/* A private file whole; the caller wipes and frees it. */
static int read_private(const char *path, struct buf *out, bool must_be_private, struct err *e)
{
    struct stat st;
    char chunk[1024];
    int rc = 0, fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return err_set(e, -errno, "%s: %s", path, strerror(errno));
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
        rc = err_set(e, -EINVAL, "%s: not a regular file", path);
    else if (must_be_private && (st.st_mode & 077))
        rc = err_set(e, -EACCES, "%s: readable by group or other users (mode %04o); chmod 600 %s",
                     path, (unsigned)(st.st_mode & 07777), path);
    for (ssize_t n; rc == 0 && (n = read(fd, chunk, sizeof chunk)) != 0;) {
        if (n < 0 || out->len > 65536)
            rc = err_set(e, -EIO, "%s: %s", path, n < 0 ? strerror(errno) : "too large");
        else
            buf_append(out, chunk, (size_t)n);
    }
    OPENSSL_cleanse(chunk, sizeof chunk);
    close(fd);
    return rc;
}

static void wipe(struct buf *b)
{
    if (b->data)
        OPENSSL_cleanse(b->data, b->cap);
    buf_free(b);
}

/* An Ed25519 key from PEM text: private (PKCS#8) or public (SubjectPublicKeyInfo). */
static int load_key(const char *path, bool private, EVP_PKEY **out, struct err *e)
{
    struct buf text = BUF_INIT;
    int rc = read_private(path, &text, private, e);
    if (rc < 0) {
        wipe(&text);
        return rc;
    }
    BIO *bio = BIO_new_mem_buf(text.data ? text.data : "", (int)text.len);
    *out = !bio ? NULL : private ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL)
                                 : PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
    BIO_free(bio);
    wipe(&text);
    if (!*out)
        return err_set(e, -EINVAL, "%s: not a PEM %s key", path, private ? "private" : "public");
    if (EVP_PKEY_get_id(*out) != EVP_PKEY_ED25519) {
        EVP_PKEY_free(*out);
        *out = NULL;
        return err_set(e, -EINVAL, "%s: not an Ed25519 key (openssl genpkey -algorithm ed25519)",
                       path);
    }
    return 0;
}

int anchor_open(anchor **out, const struct config *cfg, struct err *e)
{
    anchor *a;
    int rc;
    *out = NULL;
    if (!cfg->audit.anchor_key_file || !*cfg->audit.anchor_key_file)
        return 0;
    a = xcalloc(1, sizeof *a);
    if ((rc = load_key(cfg->audit.anchor_key_file, true, &a->key, e)) < 0) {
        free(a);
        return rc;
    }
    a->file = xstrdup(cfg->audit.anchor_file);
    a->every_ms = cfg->audit.anchor_every_ms;
    a->last_seq = -1;
    *out = a;
    return 0;
}

void anchor_close(anchor *a)
{
    if (!a)
        return;
    EVP_PKEY_free(a->key);   /* OpenSSL clears the private key it frees */
    free(a->file);
    free(a);
}

void anchor_message(struct buf *out, long long seq, const char *hash, const char *at)
{
    buf_printf(out, ANCHOR_MAGIC "seq=%lld hash=%s at=%s", seq, hash, at);
}

static int sign_line(EVP_PKEY *key, struct buf *line)
{
    unsigned char sig[64];
    size_t siglen = sizeof sig;
    char b64[4 * ((sizeof sig + 2) / 3) + 1];
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int ok = ctx && EVP_DigestSignInit(ctx, NULL, NULL, NULL, key) == 1
             && EVP_DigestSign(ctx, sig, &siglen, (const unsigned char *)line->data, line->len) == 1;
    EVP_MD_CTX_free(ctx);
    if (!ok)
        return -1;
    EVP_EncodeBlock((unsigned char *)b64, sig, (int)siglen);
    buf_printf(line, " sig=%s\n", b64);
    OPENSSL_cleanse(sig, sizeof sig);
    return 0;
}

static int append_line(const char *path, const struct buf *line, struct err *e)
{
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0600);
    if (fd < 0)
        return err_set(e, -errno, "%s: %s", path, strerror(errno));
    ssize_t n = write(fd, line->data, line->len);
    int rc = n == (ssize_t)line->len && fsync(fd) == 0 ? 0
           : err_set(e, -EIO, "%s: %s", path, n < 0 ? strerror(errno) : "short write");
    close(fd);
    return rc;
}

void anchor_tick(anchor *a, db *d, int64_t now, bool force)
{
    struct buf line = BUF_INIT;
    char hash[65], at[32];
    long long seq;
    struct err e;
    time_t t = time(NULL);
    struct tm tm;

    if (!a || (!force && now < a->next) || db_broken(d))
        return;
    a->next = now + a->every_ms;
    if (audit_head(d, &seq, hash, &e) < 0) {
        log_error("cannot anchor the audit chain", KV("error", e.msg));
        return;
    }
    if (seq == 0 || seq == a->last_seq)
        return;
    gmtime_r(&t, &tm);
    strftime(at, sizeof at, "%Y-%m-%dT%H:%M:%SZ", &tm);
    anchor_message(&line, seq, hash, at);
    if (sign_line(a->key, &line) < 0)
        log_error("cannot anchor the audit chain", KV("error", "Ed25519 signing failed"));
    else if (append_line(a->file, &line, &e) < 0)
        log_error("cannot anchor the audit chain", KV("error", e.msg));
    else {
        a->last_seq = seq;
        log_notice("audit chain anchored", KVI("seq", seq), KV("hash", hash), KV("at", at),
                   KV("file", a->file));
    }
    wipe(&line);
}

/* ---- verification ------------------------------------------------------- */

struct anchor_rec {
    long long seq;
    char hash[65];
    char at[32];
    int line;
    bool seen;           /* the chain has the event */
    bool matched;        /* ... with this hash */
};

struct anchor_set {
    struct anchor_rec *v;
    size_t n;
};

/* Parse and check one line; NULL when fine, else why not. */
static const char *parse_line(EVP_PKEY *pub, char *text, struct anchor_rec *r)
{
    unsigned char sig[72];
    char *s = strstr(text, " sig=");
    int n = 0;
    if (strncmp(text, ANCHOR_MAGIC, strlen(ANCHOR_MAGIC)) != 0 || !s)
        return "not an epsync anchor line";
    *s = '\0';
    if (sscanf(text, ANCHOR_MAGIC "seq=%lld hash=%64[0-9a-f] at=%31s%n", &r->seq, r->hash, r->at,
               &n) != 3 || text[n] || strlen(r->hash) != 64 || r->seq < 1)
        return "malformed anchor line";
    const char *b64 = s + 5;
    if (strlen(b64) != 88 || EVP_DecodeBlock(sig, (const unsigned char *)b64, 88) != 66)
        return "malformed signature";
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int ok = ctx && EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, pub) == 1
             && EVP_DigestVerify(ctx, sig, 64, (const unsigned char *)text, strlen(text)) == 1;
    EVP_MD_CTX_free(ctx);
    return ok ? NULL : "signature does not verify with the public key";
}

int anchor_set_load(struct anchor_set **out, const char *path, const char *pubkey_path,
                    FILE *report, struct err *e)
{
    struct anchor_set *s = xcalloc(1, sizeof *s);
    EVP_PKEY *pub = NULL;
    char text[ANCHOR_MAX_LINE];
    int rc, lineno = 0;
    FILE *f = NULL;

    *out = s;
    if ((rc = load_key(pubkey_path, false, &pub, e)) < 0)
        return rc;
    if (!(f = fopen(path, "re"))) {
        EVP_PKEY_free(pub);
        return err_set(e, -errno, "%s: %s", path, strerror(errno));
    }
    while (rc == 0 && fgets(text, sizeof text, f)) {
        struct anchor_rec r = { .line = ++lineno };
        text[strcspn(text, "\r\n")] = '\0';
        if (!text[0])
            continue;
        const char *why = parse_line(pub, text, &r);
        if (why) {
            fprintf(report, "audit anchor broken: %s line %d: %s\n", path, lineno, why);
            rc = 1;
            break;
        }
        s->v = xrealloc(s->v, (s->n + 1) * sizeof *s->v);
        s->v[s->n++] = r;
    }
    fclose(f);
    EVP_PKEY_free(pub);
    return rc;
}

void anchor_set_see(struct anchor_set *s, long long seq, const char *hash)
{
    for (size_t i = 0; s && i < s->n; i++)
        if (s->v[i].seq == seq) {
            s->v[i].seen = true;
            s->v[i].matched = strcmp(s->v[i].hash, hash) == 0;
        }
}

int anchor_set_report(const struct anchor_set *s, long long last_seq, FILE *out)
{
    for (size_t i = 0; i < s->n; i++) {
        const struct anchor_rec *r = &s->v[i];
        if (r->matched)
            continue;
        if (r->seen)
            fprintf(out, "audit anchor broken: line %d (seq=%lld, anchored at %s) no longer "
                         "matches: the chain's event seq=%lld has another hash (rewritten)\n",
                    r->line, r->seq, r->at, r->seq);
        else
            fprintf(out, "audit anchor broken: line %d (seq=%lld, anchored at %s) no longer "
                         "matches: the chain ends at seq=%lld (events removed)\n",
                    r->line, r->seq, r->at, last_seq);
        return 1;
    }
    fprintf(out, "audit anchors verified: %zu, the newest at seq=%lld\n", s->n,
            s->n ? s->v[s->n - 1].seq : 0);
    return 0;
}

void anchor_set_free(struct anchor_set *s)
{
    if (!s)
        return;
    free(s->v);
    free(s);
}
