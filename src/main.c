/* main.c - the epsync command line (SPEC §2).
 *
 *   epsync [-c FILE] COMMAND [ARGS]
 *
 * Commands are a table; each gets the loaded configuration.  Exit codes
 * follow sysexits: 0 ok, 1 failure, 64 usage, 69 database or schema
 * unavailable, 78 configuration error. */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>

#include "audit.h"
#include "config.h"
#include "db.h"
#include "engine.h"
#include "log.h"
#include "migrate.h"
#include "ops.h"
#include "report.h"

struct command {
    const char *name;
    const char *args;
    const char *help;
    bool secrets;      /* talks to the platforms, or checks that it could */
    int (*fn)(struct config **cfg, const char *path, int argc, char **argv);
};

static int cmd_run(struct config **cfg, const char *path, int argc, char **argv)
{
    struct config *c = *cfg;
    (void)argc;
    *cfg = NULL;   /* the engine owns it now (reloads replace it) */
    return engine_main(c, path, strcmp(argv[0], "once") == 0);
}

static int open_state(struct config *cfg, db **d)
{
    struct err e;
    const char *ci = cfg->database.state && *cfg->database.state ? cfg->database.state
                                                                   : cfg->database.source;
    if (db_open(d, ci, "state database", &e) < 0) {
        fprintf(stderr, "epsync: %s\n", e.msg);
        return EX_UNAVAILABLE_;
    }
    return 0;
}

static int cmd_migrate(struct config **cfg, const char *path, int argc, char **argv)
{
    db *d = NULL;
    struct err e;
    int from = 0, to = 0, rc;
    (void)path; (void)argc; (void)argv;

    if ((rc = open_state(*cfg, &d)) != 0)
        goto out;
    if (migrate_run(d, &from, &to, &e) < 0) {
        fprintf(stderr, "epsync: migrate: %s\n", e.msg);
        rc = EX_UNAVAILABLE_;
        goto out;
    }
    if (from == to)
        printf("state schema is current (version %d)\n", to);
    else
        printf("state schema migrated from version %d to %d\n", from, to);
    if ((rc = migrate_grants(d, stdout, &e)) < 0) {
        fprintf(stderr, "epsync: migrate: %s\n", e.msg);
        rc = EX_UNAVAILABLE_;
    } else if (rc > 0) {
        fprintf(stderr, "epsync: migrate: %d role grant(s) missing (above); "
                        "docs/operations.md gives the CREATE ROLE lines\n", rc);
        rc = EX_FAIL;
    }
out:
    db_close(d);
    return rc;
}

static int cmd_check_config(struct config **cfg, const char *path, int argc, char **argv)
{
    (void)argc; (void)argv;
    printf("# %s: configuration is valid\n", path);
    config_print(*cfg, stdout);
    return 0;
}

static int cmd_verify_audit(struct config **cfg, const char *path, int argc, char **argv)
{
    (void)path;
    return audit_main(*cfg, argc, argv);
}

static int cmd_report(struct config **cfg, const char *path, int argc, char **argv)
{
    (void)path;
    return report_main(*cfg, argc, argv);
}

static int cmd_show(struct config **cfg, const char *path, int argc, char **argv)
{
    (void)path;
    return ops_show(*cfg, argc, argv);
}

static int cmd_retry(struct config **cfg, const char *path, int argc, char **argv)
{
    (void)path;
    return ops_retry(*cfg, argc, argv);
}

static int cmd_withdraw(struct config **cfg, const char *path, int argc, char **argv)
{
    (void)path;
    return ops_withdraw(*cfg, argc, argv);
}

static const struct command commands[] = {
    { "run", "", "the daemon, in the foreground", true, cmd_run },
    { "once", "", "one full cycle, then exit (0: nothing left due now)", true, cmd_run },
    { "migrate", "", "create or upgrade the state schema", false, cmd_migrate },
    { "check-config", "", "validate the configuration and print it, secrets as ***",
      true, cmd_check_config },
    { "report", "[--from D] [--to D] [--target T] [--format text|csv|json|html] [--lang zh|en] [-o FILE]",
      "the sync-status report", false, cmd_report },
    { "show", "ID", "one decision: fields, state per target, attempts, audit", false, cmd_show },
    { "retry", "ID | [--target T] [--state rejected|invalid|failed]", "requeue deliveries",
      false, cmd_retry },
    { "withdraw", "ID --reason TEXT", "withdraw a decision from every target", false, cmd_withdraw },
    { "verify-audit", "[--anchors FILE --public-key FILE]",
      "verify the audit hash chain (and that it still holds every signed anchor)", false,
      cmd_verify_audit },
};

static void usage(FILE *f)
{
    fprintf(f, "usage: epsync [-c FILE] COMMAND [ARGS]\n\n"
               "  -c FILE     configuration (default $EPSYNC_CONFIG, else /etc/epsync/epsync.yaml)\n"
               "  -h, --help  this help\n"
               "  --version   print the version\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-13s %s\n  %-13s   %s\n", commands[i].name, commands[i].args, "",
                commands[i].help);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        { "help", no_argument, NULL, 'h' },
        { "version", no_argument, NULL, 'V' },
        { NULL, 0, NULL, 0 },
    };
    const char *path = getenv("EPSYNC_CONFIG");
    const struct command *cmd = NULL;
    struct config *cfg = NULL;
    struct err e;
    int c, rc;

    /* No core file and no ptrace by the same user: the memory holds
     * secrets, tokens and source rows (the unit also sets LimitCORE=0). */
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    if (!path || !*path)
        path = "/etc/epsync/epsync.yaml";
    while ((c = getopt_long(argc, argv, "+c:h", opts, NULL)) != -1) {
        switch (c) {
        case 'c': path = optarg; break;
        case 'h': usage(stdout); return 0;
        case 'V': printf("epsync %s\n", EPSYNC_VERSION); return 0;
        default: usage(stderr); return EX_USAGE_;
        }
    }
    if (optind >= argc) {
        usage(stderr);
        return EX_USAGE_;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(argv[optind], commands[i].name) == 0)
            cmd = &commands[i];
    if (!cmd) {
        fprintf(stderr, "epsync: unknown command '%s'\n", argv[optind]);
        usage(stderr);
        return EX_USAGE_;
    }
    log_init(LOG_INFO, LOG_TEXT);
    if (config_load_opts(&cfg, path, cmd->secrets ? CONFIG_SECRETS : 0, &e) < 0) {
        fprintf(stderr, "%s\n", e.msg);
        config_free(cfg);
        return EX_CONFIG_;
    }
    log_init((enum log_level)cfg->log.level, (enum log_format)cfg->log.format);
    optind++;
    rc = cmd->fn(&cfg, path, argc - optind + 1, argv + optind - 1);
    config_free(cfg);
    return rc;
}
