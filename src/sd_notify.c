/* sd_notify.c - the sd_notify(3) datagram protocol.
 *
 * libsystemd would do this in one call, but the protocol is small and
 * stable (one AF_UNIX datagram of VAR=value lines), and not linking it
 * keeps the daemon buildable and testable where systemd is absent.  The
 * details follow sd_notify(3) and systemd's own implementation:
 *
 *  - '@' at the start of $NOTIFY_SOCKET means the abstract namespace: the
 *    '@' becomes a NUL byte and the address length covers exactly the
 *    name, with no trailing NUL (abstract names are length-delimited);
 *  - SOCK_CLOEXEC so a notification socket never leaks into a child;
 *  - MSG_NOSIGNAL so a vanished manager yields an error, not SIGPIPE;
 *  - the socket is not connected: sendto() every time, so a manager that
 *    re-creates its socket (daemon-reexec) is still reached.
 *
 * The kernel attaches our credentials (SCM_CREDENTIALS) when systemd asks
 * for them with SO_PASSCRED; NotifyAccess=main then checks the PID.
 */
#include "sd_notify.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"

enum notify_state { NOTIFY_UNOPENED, NOTIFY_OFF, NOTIFY_ON };

static struct {
    enum notify_state state;
    int fd;
    struct sockaddr_un addr;
    socklen_t addrlen;
} nt = { NOTIFY_UNOPENED, -1, { 0 }, 0 };

/* Fill nt.addr from the value of $NOTIFY_SOCKET. */
static int notify_parse_addr(const char *path)
{
    size_t n = strlen(path);

    if (path[0] != '/' && path[0] != '@')
        return -EINVAL;     /* relative paths and vsock: are not supported */
    if (n < 2)
        return -EINVAL;
    /* A path needs room for its NUL; an abstract name has none, but its
     * '@' stands in for the leading NUL byte, so the bound is the same. */
    if (n >= sizeof nt.addr.sun_path + (path[0] == '@'))
        return -ENAMETOOLONG;

    memset(&nt.addr, 0, sizeof nt.addr);
    nt.addr.sun_family = AF_UNIX;
    memcpy(nt.addr.sun_path, path, n);
    if (path[0] == '@') {
        nt.addr.sun_path[0] = '\0';
        nt.addrlen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
    } else {
        nt.addrlen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
    }
    return 0;
}

int notify_open(void)
{
    const char *path;
    int rc;

    if (nt.state != NOTIFY_UNOPENED)
        return 0;
    path = getenv("NOTIFY_SOCKET");
    if (!path || !*path) {
        nt.state = NOTIFY_OFF;
        return 0;
    }
    rc = notify_parse_addr(path);
    if (rc < 0)
        return rc;
    nt.fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (nt.fd < 0)
        return -errno;
    nt.state = NOTIFY_ON;
    return 0;
}

int notify_send(const char *state)
{
    size_t len;
    ssize_t sent;
    int rc;

    if (!state)
        return -EINVAL;
    if (nt.state == NOTIFY_UNOPENED && (rc = notify_open()) < 0)
        return rc;
    if (nt.state != NOTIFY_ON)
        return 0;

    len = strlen(state);
    do {
        sent = sendto(nt.fd, state, len, MSG_NOSIGNAL,
                      (const struct sockaddr *)&nt.addr, nt.addrlen);
    } while (sent < 0 && errno == EINTR);
    if (sent < 0)
        return -errno;
    /* A datagram goes whole or not at all; anything else is a kernel
     * surprise worth reporting rather than ignoring. */
    if ((size_t)sent != len)
        return -EIO;
    return 0;
}

int notify_ready(void)
{
    return notify_send("READY=1");
}

int notify_status(const char *line)
{
    struct buf b = BUF_INIT;
    int rc;

    if (!line)
        return -EINVAL;
    buf_puts(&b, "STATUS=");
    for (const char *p = line; *p; p++)
        buf_putc(&b, (*p == '\n' || *p == '\r') ? ' ' : *p);
    rc = notify_send(buf_str(&b));
    buf_free(&b);
    return rc;
}

int notify_waiting(const char *what, const char *why)
{
    char line[256];
    size_t first = why ? strcspn(why, "\r\n") : 0;
    int n = first > 160 ? 160 : (int)first;
    snprintf(line, sizeof line, "waiting for %s (%.*s%s)", what, n, why ? why : "",
             first > 160 ? " ..." : "");
    return notify_status(line);
}

int notify_watchdog(void)
{
    return notify_send("WATCHDOG=1");
}

int notify_reloading(int64_t monotonic_usec)
{
    char msg[64];

    if (monotonic_usec <= 0) {
        struct timespec ts;
        if (clock_gettime(CLOCK_MONOTONIC, &ts) < 0)
            return -errno;
        monotonic_usec = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
    }
    snprintf(msg, sizeof msg, "RELOADING=1\nMONOTONIC_USEC=%lld", (long long)monotonic_usec);
    return notify_send(msg);
}

int notify_stopping(void)
{
    return notify_send("STOPPING=1");
}

/* A whole-string decimal number > 0, or 0. */
static unsigned long long notify_parse_positive(const char *s)
{
    char *end;
    unsigned long long v;

    if (!s || *s < '0' || *s > '9')
        return 0;           /* strtoull would accept "-1" and " 1" */
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno || *end)
        return 0;
    return v;
}

int64_t notify_watchdog_usec(void)
{
    const char *pid = getenv("WATCHDOG_PID");
    unsigned long long usec;

    /* systemd sets WATCHDOG_PID so that a child which inherited the
     * environment does not take the parent's watchdog for its own. */
    if (pid && notify_parse_positive(pid) != (unsigned long long)getpid())
        return 0;
    usec = notify_parse_positive(getenv("WATCHDOG_USEC"));
    if (usec > (unsigned long long)INT64_MAX)
        return 0;
    return (int64_t)usec;
}

void notify_close(void)
{
    if (nt.fd >= 0)
        close(nt.fd);
    nt.fd = -1;
    nt.state = NOTIFY_UNOPENED;
}
