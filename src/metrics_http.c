/* metrics_http.c - see metrics_http.h.
 *
 * The listening socket is made here (TCP or unix) and handed to
 * libmicrohttpd, so both kinds go through one path and a bad address is
 * reported in our words before any thread starts. */
#include "metrics_http.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <microhttpd.h>

#include "buf.h"
#include "metrics.h"

struct metrics_http {
    struct MHD_Daemon *mhd;
    char *unix_path;         /* unlinked at stop */
};

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, const char *text)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(strlen(text), (void *)text,
                                                             MHD_RESPMEM_PERSISTENT);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8");
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
    enum MHD_Result ok = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ok;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version,
                                  const char *upload, size_t *upload_size, void **con_cls)
{
    struct buf b = BUF_INIT;
    (void)cls; (void)version; (void)upload; (void)upload_size; (void)con_cls;

    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
        return reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, "only GET /metrics\n");
    if (strcmp(url, "/metrics") != 0)
        return reply(c, MHD_HTTP_NOT_FOUND, "epsync serves /metrics\n");
    metrics_render(&b);
    size_t len = b.len;
    struct MHD_Response *r = MHD_create_response_from_buffer(len, buf_steal(&b),
                                                             MHD_RESPMEM_MUST_FREE);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
                            "text/plain; version=0.0.4; charset=utf-8");
    enum MHD_Result ok = MHD_queue_response(c, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    return ok;
}

static int listen_unix(const char *path, struct err *e)
{
    struct sockaddr_un sa;
    struct stat st;
    int fd;

    if (strlen(path) >= sizeof sa.sun_path)
        return err_set(e, -ENAMETOOLONG, "metrics.listen: socket path too long: %s", path);
    /* A socket left by an earlier run is replaced; any other file is not. */
    if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
        unlink(path);
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, path, strlen(path) + 1);
    if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
        return err_set(e, -errno, "metrics.listen: socket: %s", strerror(errno));
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(fd, 64) < 0) {
        int en = errno;
        close(fd);
        return err_set(e, -en, "metrics.listen: cannot listen on %s: %s", path, strerror(en));
    }
    return fd;
}

/* "host:port" or "[v6]:port" into host and port. */
static int split_address(const char *where, char *host, size_t hn, char *port, size_t pn)
{
    const char *colon = strrchr(where, ':');
    const char *h = where;
    size_t hl;

    if (!colon || !colon[1] || strlen(colon + 1) >= pn)
        return -1;
    hl = (size_t)(colon - where);
    if (*h == '[' && hl >= 2 && where[hl - 1] == ']') {
        h++;
        hl -= 2;
    }
    if (hl == 0 || hl >= hn)
        return -1;
    memcpy(host, h, hl);
    host[hl] = 0;
    snprintf(port, pn, "%s", colon + 1);
    return 0;
}

static int listen_tcp(const char *where, struct err *e)
{
    struct addrinfo hints, *ai = NULL;
    char host[256], port[16];
    int fd = -1, one = 1, rc;

    if (split_address(where, host, sizeof host, port, sizeof port) < 0)
        return err_set(e, -EINVAL, "metrics.listen: expected ADDRESS:PORT or a socket path, "
                       "got '%s'", where);
    memset(&hints, 0, sizeof hints);
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    if ((rc = getaddrinfo(host, port, &hints, &ai)) != 0)
        return err_set(e, -EINVAL, "metrics.listen: %s: %s", where, gai_strerror(rc));
    for (struct addrinfo *a = ai; a; a = a->ai_next) {
        if ((fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, 0)) < 0)
            continue;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(fd, a->ai_addr, a->ai_addrlen) == 0 && listen(fd, 64) == 0)
            break;
        rc = errno;
        close(fd);
        fd = -1;
        errno = rc;
    }
    rc = errno;
    freeaddrinfo(ai);
    if (fd < 0)
        return err_set(e, -rc, "metrics.listen: cannot listen on %s: %s", where, strerror(rc));
    return fd;
}

int metrics_http_start(metrics_http **out, const char *where, struct err *e)
{
    bool is_unix = where[0] == '/';
    int fd = is_unix ? listen_unix(where, e) : listen_tcp(where, e);
    struct metrics_http *h;

    *out = NULL;
    if (fd < 0)
        return fd;
    h = xcalloc(1, sizeof *h);
    h->unix_path = is_unix ? xstrdup(where) : NULL;
    h->mhd = MHD_start_daemon(
        MHD_USE_AUTO_INTERNAL_THREAD, 0, NULL, NULL, on_request, NULL,
        MHD_OPTION_LISTEN_SOCKET, fd,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)METRICS_HTTP_CONNECTIONS,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)(is_unix ? 0 : METRICS_HTTP_PER_CLIENT),
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)METRICS_HTTP_TIMEOUT_S,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(32 * 1024),
        MHD_OPTION_END);
    if (!h->mhd) {
        close(fd);
        metrics_http_stop(h);
        return err_set(e, -EIO, "metrics.listen: cannot start the HTTP server on %s", where);
    }
    *out = h;
    return 0;
}

void metrics_http_stop(metrics_http *h)
{
    if (!h)
        return;
    if (h->mhd)
        MHD_stop_daemon(h->mhd);   /* closes the listening socket too */
    if (h->unix_path)
        unlink(h->unix_path);
    free(h->unix_path);
    free(h);
}
