/*
 * sink - a minimal platform stand-in for the benchmarks.
 *
 *     sink [--port N] [--log FILE]
 *
 * One thread, epoll, HTTP/1.1 keep-alive.  It answers both platforms'
 * protocols (docs/protocols.md) without checking anything, so that the daemon,
 * not the platform, is what a benchmark measures:
 *
 *   POST /oauth/token                   -> a Bearer token
 *   POST|PUT /api/v1/decisions...       -> code 0 with receiptNo R<n>
 *   POST /gateway/v2/publicity/batch    -> ACCEPTED for every record (one
 *                                          record per "SJLY_ID" in the body)
 *   anything else                       -> {"code":"0","success":true}
 *
 * With --log, every decision that arrives is written as a line
 * "<CLOCK_REALTIME ns> <decision id>" (city: from the Idempotency-Key,
 * province: from each SJLY_ID), for the latency figure.  The chosen port is
 * printed as "PORT <n>" on stdout.  SIGTERM/SIGINT end it.
 */

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define SINK_MAX_REQUEST (8u << 20)     /* a province batch is at most 2 MiB */

struct sink_conn {
    int fd;
    char *in;               /* bytes read, not yet consumed */
    size_t in_len, in_cap;
    char *out;              /* answer bytes not yet written */
    size_t out_len, out_off, out_cap;
    bool continued;         /* "100 Continue" already sent for this request */
};

static volatile sig_atomic_t sink_stop;
static FILE *sink_log;
static unsigned long long sink_receipts;

static void sink_on_signal(int sig)
{
    (void)sig;
    sink_stop = 1;
}

static void *sink_grow(void *p, size_t *cap, size_t need)
{
    if (need <= *cap)
        return p;
    size_t n = *cap ? *cap : 16384;
    while (n < need)
        n *= 2;
    void *q = realloc(p, n);
    if (!q) {
        perror("sink: realloc");
        exit(1);
    }
    *cap = n;
    return q;
}

static void sink_out(struct sink_conn *c, const char *data, size_t len)
{
    c->out = sink_grow(c->out, &c->out_cap, c->out_len + len);
    memcpy(c->out + c->out_len, data, len);
    c->out_len += len;
}

static void sink_answer(struct sink_conn *c, int status, const char *body, size_t body_len)
{
    char head[256];
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 %d %s\r\nContent-Type: application/json; charset=utf-8\r\n"
                     "Content-Length: %zu\r\n\r\n", status, status == 200 ? "OK" : "Not Found",
                     body_len);
    sink_out(c, head, (size_t)n);
    sink_out(c, body, body_len);
}

static long long sink_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* The value of header NAME (case-insensitive) in HEAD, or NULL; *len its length. */
static const char *sink_header(const char *head, size_t head_len, const char *name, size_t *len)
{
    size_t nl = strlen(name);
    const char *p = memchr(head, '\n', head_len);
    const char *end = head + head_len;
    while (p && p + 1 < end) {
        p++;
        if ((size_t)(end - p) > nl + 1 && strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
            const char *v = p + nl + 1;
            while (v < end && (*v == ' ' || *v == '\t'))
                v++;
            const char *e = v;
            while (e < end && *e != '\r' && *e != '\n')
                e++;
            *len = (size_t)(e - v);
            return v;
        }
        p = memchr(p, '\n', (size_t)(end - p));
    }
    return NULL;
}

static void sink_log_id(long long now, const char *id, size_t len)
{
    if (sink_log)
        fprintf(sink_log, "%lld %.*s\n", now, (int)len, id);
}

static void sink_city(struct sink_conn *c, const char *head, size_t head_len)
{
    size_t klen = 0;
    const char *key = sink_header(head, head_len, "Idempotency-Key", &klen);
    if (key) {
        const char *colon = memchr(key, ':', klen);
        sink_log_id(sink_now_ns(), key, colon ? (size_t)(colon - key) : klen);
    }
    char body[160];
    int n = snprintf(body, sizeof body,
                     "{\"code\":\"0\",\"msg\":\"成功\",\"data\":{\"receiptNo\":\"R%llu\"}}",
                     ++sink_receipts);
    sink_answer(c, 200, body, (size_t)n);
}

static void sink_province(struct sink_conn *c, const char *body, size_t body_len)
{
    static const char tag[] = "\"SJLY_ID\"";
    long long now = sink_now_ns();
    size_t records = 0;
    const char *p = body, *end = body + body_len;
    while ((p = memmem(p, (size_t)(end - p), tag, sizeof tag - 1)) != NULL) {
        p += sizeof tag - 1;
        const char *q = memchr(p, '"', (size_t)(end - p));       /* the value's opening quote */
        if (q) {
            const char *e = memchr(q + 1, '"', (size_t)(end - q - 1));
            if (e)
                sink_log_id(now, q + 1, (size_t)(e - q - 1));
        }
        records++;
    }
    char *ans = NULL;
    size_t cap = 0, len = 0;
    ans = sink_grow(ans, &cap, 64 + records * 80);
    len += (size_t)sprintf(ans, "{\"success\":true,\"data\":{\"results\":[");
    for (size_t i = 0; i < records; i++)
        len += (size_t)sprintf(ans + len, "%s{\"index\":%zu,\"status\":\"ACCEPTED\","
                               "\"recordId\":\"HB%llu\"}", i ? "," : "", i, ++sink_receipts);
    len += (size_t)sprintf(ans + len, "]}}");
    sink_answer(c, 200, ans, len);
    free(ans);
}

/* One complete request at the head of c->in: answer it; its length, 0 if
 * incomplete, -1 if malformed. */
static long sink_request(struct sink_conn *c)
{
    char *hend = memmem(c->in, c->in_len, "\r\n\r\n", 4);
    if (!hend)
        return c->in_len > 65536 ? -1 : 0;
    size_t head_len = (size_t)(hend - c->in) + 4;
    size_t vlen = 0, clen = 0;
    const char *v = sink_header(c->in, head_len, "Content-Length", &vlen);
    if (v)
        clen = strtoul(v, NULL, 10);
    if (clen > SINK_MAX_REQUEST)
        return -1;
    if (c->in_len < head_len + clen) {
        /* libcurl waits for this before sending a large body */
        if (!c->continued && sink_header(c->in, head_len, "Expect", &vlen)) {
            sink_out(c, "HTTP/1.1 100 Continue\r\n\r\n", 25);
            c->continued = true;
        }
        return 0;
    }
    c->continued = false;
    const char *body = c->in + head_len;
    char method[8] = "", path[256] = "";
    if (sscanf(c->in, "%7s %255s", method, path) != 2)
        return -1;
    if (strcmp(path, "/oauth/token") == 0) {
        static const char tok[] = "{\"access_token\":\"bench-token\",\"token_type\":\"Bearer\","
                                  "\"expires_in\":7200}";
        sink_answer(c, 200, tok, sizeof tok - 1);
    } else if (strncmp(path, "/api/v1/decisions", 17) == 0 && !strstr(path, "/withdraw")) {
        sink_city(c, c->in, head_len);
    } else if (strcmp(path, "/gateway/v2/publicity/batch") == 0) {
        sink_province(c, body, clen);
    } else {
        static const char ok[] = "{\"code\":\"0\",\"msg\":\"成功\",\"success\":true}";
        sink_answer(c, 200, ok, sizeof ok - 1);
    }
    return (long)(head_len + clen);
}

static void sink_close(int ep, struct sink_conn *c)
{
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    free(c->in);
    free(c->out);
    free(c);
}

/* Write what is pending; false when the connection is gone. */
static bool sink_flush(int ep, struct sink_conn *c)
{
    while (c->out_off < c->out_len) {
        ssize_t n = write(c->fd, c->out + c->out_off, c->out_len - c->out_off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            break;
        if (n <= 0)
            return false;
        c->out_off += (size_t)n;
    }
    if (c->out_off == c->out_len)
        c->out_off = c->out_len = 0;
    struct epoll_event ev = { .events = EPOLLIN | (c->out_len ? EPOLLOUT : 0), .data.ptr = c };
    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
    return true;
}

/* Read what is there and answer every complete request; false: close it. */
static bool sink_readable(int ep, struct sink_conn *c)
{
    for (;;) {
        c->in = sink_grow(c->in, &c->in_cap, c->in_len + 65536);
        ssize_t n = read(c->fd, c->in + c->in_len, c->in_cap - c->in_len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            break;
        if (n <= 0)
            return false;
        c->in_len += (size_t)n;
    }
    long used;
    while ((used = sink_request(c)) > 0) {
        memmove(c->in, c->in + used, c->in_len - (size_t)used);
        c->in_len -= (size_t)used;
    }
    if (used < 0)
        return false;
    if (sink_log)
        fflush(sink_log);
    return sink_flush(ep, c);
}

static int sink_listen(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t alen = sizeof a;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0
        || bind(fd, (struct sockaddr *)&a, sizeof a) < 0 || listen(fd, 1024) < 0
        || getsockname(fd, (struct sockaddr *)&a, &alen) < 0) {
        perror("sink: listen");
        exit(1);
    }
    printf("PORT %d\n", ntohs(a.sin_port));
    fflush(stdout);
    return fd;
}

int main(int argc, char **argv)
{
    int port = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--port") == 0 && i + 1 < argc) {
            port = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--log") == 0 && i + 1 < argc) {
            sink_log = fopen(argv[++i], "w");
            if (!sink_log) {
                perror(argv[i]);
                return 1;
            }
        } else {
            fprintf(stderr, "usage: sink [--port N] [--log FILE]\n");
            return 64;
        }
    }
    struct sigaction sa = { .sa_handler = sink_on_signal };
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    int lfd = sink_listen(port);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event lev = { .events = EPOLLIN, .data.ptr = NULL };
    epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &lev);
    struct epoll_event evs[256];
    while (!sink_stop) {
        int n = epoll_wait(ep, evs, 256, 500);
        for (int i = 0; i < n; i++) {
            struct sink_conn *c = evs[i].data.ptr;
            if (!c) {       /* the listening socket: accept everything waiting */
                int fd;
                while ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
                    int one = 1;
                    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    c = calloc(1, sizeof *c);
                    if (!c) {
                        close(fd);
                        continue;
                    }
                    c->fd = fd;
                    struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };
                    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
                }
                continue;
            }
            bool ok = true;
            if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
                ok = sink_readable(ep, c);
            if (ok && (evs[i].events & EPOLLOUT))
                ok = sink_flush(ep, c);
            if (!ok)
                sink_close(ep, c);
        }
    }
    if (sink_log)
        fclose(sink_log);
    close(ep);
    close(lfd);
    return 0;
}
