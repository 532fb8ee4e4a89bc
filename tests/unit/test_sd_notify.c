/* test_notify.c - sd_notify messages as the service manager receives them.
 *
 * Each test plays systemd: it binds a datagram socket (a path in a fresh
 * temporary directory, or an abstract name), points $NOTIFY_SOCKET at it,
 * and reads back the exact bytes sd_notify.c sent. */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "sd_notify.h"
#include "tap.h"

static char tmpdir[64];
static char sockpath[128];

/* A "manager" socket bound to name (a path, or "@abstract"); -1 on error. */
static int manager_bind(const char *name)
{
    struct sockaddr_un a;
    struct timeval tv = { 2, 0 };   /* a missing message fails, not hangs */
    size_t n = strlen(name);
    socklen_t len;
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

    if (fd < 0)
        return -1;
    memset(&a, 0, sizeof a);
    a.sun_family = AF_UNIX;
    memcpy(a.sun_path, name, n);
    if (name[0] == '@') {
        a.sun_path[0] = '\0';
        len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
    } else {
        len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
    }
    if (bind(fd, (struct sockaddr *)&a, len) < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Receive one datagram into out (NUL-terminated); its length or -1. */
static ssize_t manager_recv(int fd, char *out, size_t cap)
{
    ssize_t n = recv(fd, out, cap - 1, 0);
    out[n < 0 ? 0 : n] = '\0';
    return n;
}

/* Nothing more must be waiting: each helper sends exactly one datagram. */
static int manager_empty(int fd)
{
    char c;
    return recv(fd, &c, 1, MSG_DONTWAIT) < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

TEST(unset_socket_is_a_successful_noop)
{
    notify_close();
    unsetenv("NOTIFY_SOCKET");
    CHECK_INT(notify_open(), 0);
    CHECK_INT(notify_ready(), 0);
    CHECK_INT(notify_status("idle"), 0);
    CHECK_INT(notify_stopping(), 0);
    notify_close();
    setenv("NOTIFY_SOCKET", "", 1);
    CHECK_INT(notify_send("READY=1"), 0);
    notify_close();
}

TEST(path_socket_receives_exact_messages)
{
    char msg[256];
    int fd = manager_bind(sockpath);

    CHECK(fd >= 0);
    if (fd < 0)
        return;
    notify_close();
    setenv("NOTIFY_SOCKET", sockpath, 1);
    CHECK_INT(notify_open(), 0);
    CHECK_INT(notify_open(), 0);                /* idempotent */

    CHECK_INT(notify_ready(), 0);
    CHECK_INT(manager_recv(fd, msg, sizeof msg), 7);
    CHECK_STR(msg, "READY=1");

    CHECK_INT(notify_status("backlog=3 published_today=41 paused=none"), 0);
    manager_recv(fd, msg, sizeof msg);
    CHECK_STR(msg, "STATUS=backlog=3 published_today=41 paused=none");

    CHECK_INT(notify_watchdog(), 0);
    manager_recv(fd, msg, sizeof msg);
    CHECK_STR(msg, "WATCHDOG=1");

    CHECK_INT(notify_reloading(123456789), 0);
    manager_recv(fd, msg, sizeof msg);
    CHECK_STR(msg, "RELOADING=1\nMONOTONIC_USEC=123456789");

    CHECK_INT(notify_stopping(), 0);
    manager_recv(fd, msg, sizeof msg);
    CHECK_STR(msg, "STOPPING=1");

    CHECK_INT(notify_send("READY=1\nSTATUS=up"), 0);
    manager_recv(fd, msg, sizeof msg);
    CHECK_STR(msg, "READY=1\nSTATUS=up");

    CHECK(manager_empty(fd));
    notify_close();
    close(fd);
    unlink(sockpath);
}

TEST(abstract_socket_receives_exact_messages)
{
    char name[64], msg[256];
    int fd;

    snprintf(name, sizeof name, "@epsync-test-notify-%ld", (long)getpid());
    fd = manager_bind(name);
    CHECK(fd >= 0);
    if (fd < 0)
        return;
    notify_close();
    setenv("NOTIFY_SOCKET", name, 1);
    /* No notify_open(): the first send opens the socket itself. */
    CHECK_INT(notify_ready(), 0);
    manager_recv(fd, msg, sizeof msg);
    CHECK_STR(msg, "READY=1");
    CHECK_INT(notify_stopping(), 0);
    manager_recv(fd, msg, sizeof msg);
    CHECK_STR(msg, "STOPPING=1");
    CHECK(manager_empty(fd));
    notify_close();
    close(fd);
}

TEST(status_line_breaks_cannot_inject_assignments)
{
    char msg[256];
    int fd = manager_bind(sockpath);

    CHECK(fd >= 0);
    if (fd < 0)
        return;
    notify_close();
    setenv("NOTIFY_SOCKET", sockpath, 1);
    CHECK_INT(notify_status("paused=city\nREADY=1\r\n"), 0);
    manager_recv(fd, msg, sizeof msg);
    CHECK_STR(msg, "STATUS=paused=city READY=1  ");
    CHECK(notify_status(NULL) < 0);
    CHECK(notify_send(NULL) < 0);
    CHECK(manager_empty(fd));
    notify_close();
    close(fd);
    unlink(sockpath);
}

TEST(waiting_status_says_what_and_the_first_line_of_why)
{
    char msg[512], longwhy[400];
    int fd = manager_bind(sockpath);

    CHECK(fd >= 0);
    if (fd < 0)
        return;
    notify_close();
    setenv("NOTIFY_SOCKET", sockpath, 1);
    CHECK_INT(notify_waiting("the state database",
                             "connection refused\n\tIs the server running?"), 0);
    manager_recv(fd, msg, sizeof msg);
    CHECK_STR(msg, "STATUS=waiting for the state database (connection refused)");
    memset(longwhy, 'x', sizeof longwhy - 1);
    longwhy[sizeof longwhy - 1] = '\0';
    CHECK_INT(notify_waiting("the state database", longwhy), 0);
    manager_recv(fd, msg, sizeof msg);
    CHECK(strlen(msg) == strlen("STATUS=waiting for the state database ( ...)") + 160);
    CHECK(strstr(msg, "x ...)") != NULL);
    CHECK(manager_empty(fd));
    notify_close();
    close(fd);
    unlink(sockpath);
}

TEST(reloading_without_timestamp_reads_the_monotonic_clock)
{
    char msg[256];
    struct timespec ts;
    long long before, got = -1;
    int fd = manager_bind(sockpath);

    CHECK(fd >= 0);
    if (fd < 0)
        return;
    notify_close();
    setenv("NOTIFY_SOCKET", sockpath, 1);
    clock_gettime(CLOCK_MONOTONIC, &ts);
    before = (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
    CHECK_INT(notify_reloading(0), 0);
    manager_recv(fd, msg, sizeof msg);
    CHECK(sscanf(msg, "RELOADING=1\nMONOTONIC_USEC=%lld", &got) == 1);
    CHECK(got >= before && got < before + 10 * 1000000LL);
    notify_close();
    close(fd);
    unlink(sockpath);
}

TEST(bad_addresses_are_refused)
{
    char longpath[200];

    notify_close();
    setenv("NOTIFY_SOCKET", "relative/notify", 1);
    CHECK_INT(notify_open(), -EINVAL);
    CHECK_INT(notify_ready(), -EINVAL);
    notify_close();
    setenv("NOTIFY_SOCKET", "@", 1);
    CHECK_INT(notify_open(), -EINVAL);
    notify_close();
    setenv("NOTIFY_SOCKET", "vsock:2:1234", 1);
    CHECK_INT(notify_open(), -EINVAL);
    notify_close();

    /* sun_path holds 108 bytes: a path of 107 characters plus its NUL
     * fits, 108 does not; an abstract name may use all 108 ('@' = NUL). */
    memset(longpath, 'a', sizeof longpath);
    longpath[0] = '/';
    longpath[108] = '\0';
    setenv("NOTIFY_SOCKET", longpath, 1);
    CHECK_INT(notify_open(), -ENAMETOOLONG);
    notify_close();
    longpath[107] = '\0';
    setenv("NOTIFY_SOCKET", longpath, 1);
    CHECK_INT(notify_open(), 0);
    notify_close();
    longpath[0] = '@';
    longpath[107] = 'a';
    longpath[108] = '\0';
    setenv("NOTIFY_SOCKET", longpath, 1);
    CHECK_INT(notify_open(), 0);
    notify_close();
    longpath[108] = 'a';
    longpath[109] = '\0';
    setenv("NOTIFY_SOCKET", longpath, 1);
    CHECK_INT(notify_open(), -ENAMETOOLONG);
    notify_close();
}

TEST(nobody_listening_is_an_error_not_a_crash)
{
    char gone[160];

    snprintf(gone, sizeof gone, "%s/nobody", tmpdir);
    notify_close();
    setenv("NOTIFY_SOCKET", gone, 1);
    CHECK_INT(notify_open(), 0);
    CHECK_INT(notify_ready(), -ENOENT);
    notify_close();
    unsetenv("NOTIFY_SOCKET");
}

TEST(watchdog_interval_honours_watchdog_pid)
{
    char pid[32];

    unsetenv("WATCHDOG_USEC");
    unsetenv("WATCHDOG_PID");
    CHECK_INT(notify_watchdog_usec(), 0);

    setenv("WATCHDOG_USEC", "30000000", 1);
    CHECK_INT(notify_watchdog_usec(), 30000000);

    snprintf(pid, sizeof pid, "%ld", (long)getpid());
    setenv("WATCHDOG_PID", pid, 1);
    CHECK_INT(notify_watchdog_usec(), 30000000);

    /* Inherited from a parent: not ours. */
    snprintf(pid, sizeof pid, "%ld", (long)getpid() + 1);
    setenv("WATCHDOG_PID", pid, 1);
    CHECK_INT(notify_watchdog_usec(), 0);
    setenv("WATCHDOG_PID", "garbage", 1);
    CHECK_INT(notify_watchdog_usec(), 0);
    unsetenv("WATCHDOG_PID");

    static const char *const bad[] = { "", "0", "-5", " 5", "5s", "abc",
                                       "99999999999999999999999" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        setenv("WATCHDOG_USEC", bad[i], 1);
        if (notify_watchdog_usec() != 0)
            TAP_FAIL("WATCHDOG_USEC=\"%s\" should mean off", bad[i]);
    }
    unsetenv("WATCHDOG_USEC");
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/epsync-notify-XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(sockpath, sizeof sockpath, "%s/notify", tmpdir);

    RUN(unset_socket_is_a_successful_noop);
    RUN(path_socket_receives_exact_messages);
    RUN(abstract_socket_receives_exact_messages);
    RUN(status_line_breaks_cannot_inject_assignments);
    RUN(waiting_status_says_what_and_the_first_line_of_why);
    RUN(reloading_without_timestamp_reads_the_monotonic_clock);
    RUN(bad_addresses_are_refused);
    RUN(nobody_listening_is_an_error_not_a_crash);
    RUN(watchdog_interval_honours_watchdog_pid);

    notify_close();
    unlink(sockpath);
    rmdir(tmpdir);
    return tap_done();
}
