/* metrics_http.h - GET /metrics over HTTP (libmicrohttpd).
 *
 * The server runs in libmicrohttpd's own thread (epoll on Linux): the
 * delivery loop never waits for a scraper.  A scrape renders the
 * in-memory registry (metrics.h) and nothing else.  Connections are
 * capped in total and per client address, idle or slow ones are dropped
 * after a timeout and each gets a small memory pool, so many connections
 * or a slowloris client cost a few kilobytes and a file descriptor each,
 * never the loop's time.
 *
 * listen is "ADDRESS:PORT" (an IPv6 address in brackets: "[::1]:9464")
 * or the absolute path of a unix socket. */
#ifndef EPSYNC_METRICS_HTTP_H
#define EPSYNC_METRICS_HTTP_H

#include "err.h"

typedef struct metrics_http metrics_http;

#define METRICS_HTTP_CONNECTIONS 64      /* connections at once */
#define METRICS_HTTP_PER_CLIENT 8        /* from one address (TCP) */
#define METRICS_HTTP_TIMEOUT_S 10        /* idle or slow connection dropped */

int metrics_http_start(metrics_http **out, const char *listen, struct err *e);
void metrics_http_stop(metrics_http *h);   /* NULL: no-op */

#endif
