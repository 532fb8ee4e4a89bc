/* main.c - the epsync command line (epsync(8)).
 *
 *   epsync [-c FILE] COMMAND [ARGS]
 *
 * Commands are a table; each gets the loaded configuration.  Before the
 * configuration is loaded, `COMMAND --help` prints the command's usage
 * (so it works without a configuration file) and commands that take no
 * arguments, or only options of their own (check-config), refuse what they
 * do not know.  Exit codes follow sysexits: 0 ok, 1 failure, 64 usage,
 * 69 database or schema unavailable, 78 configuration error. */
#include <errno.h>
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
#include "status.h"

struct command {
    const char *name;
    const char *args;        /* synopsis after the name */
    const char *help;        /* one line for the command list */
    const char *detail;      /* the rest of `epsync COMMAND --help` */
    const char *valued;      /* its options that take a value: " --from -o " */
    bool secrets;            /* talks to the platforms, or checks that it could */
    /* Reads the arguments before the configuration is loaded (may clear
     * CONFIG_SECRETS in *load); NULL when the command reads them itself. */
    int (*pre)(int argc, char **argv, unsigned *load);
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

static int bad_arg(const char *cmd, const char *arg)
{
    fprintf(stderr, "epsync %s: unexpected argument \"%s\" (epsync %s --help)\n", cmd, arg, cmd);
    return EX_USAGE_;
}

/* For commands without arguments: refuse any, before anything is loaded. */
static int no_args(int argc, char **argv, unsigned *load)
{
    (void)load;
    return argc > 1 ? bad_arg(argv[0], argv[1]) : 0;
}

/* check-config's options, read before the configuration is loaded:
 * --no-secrets names the secrets without reading them. */
static int check_config_args(int argc, char **argv, unsigned *load)
{
    static const struct option opts[] = {
        { "no-secrets", no_argument, NULL, 'n' }, { NULL, 0, NULL, 0 },
    };
    int c;
    optind = 0;            /* glibc: 0 also resets the permutation mode main() chose */
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
        if (c != 'n')
            return bad_arg(argv[0], argv[optind - 1]);
        *load &= ~CONFIG_SECRETS;
    }
    *load |= CONFIG_CALENDAR;      /* check the calendar it names, too */
    return optind < argc ? bad_arg(argv[0], argv[optind]) : 0;
}

/* verify-audit's options, checked before the configuration is loaded
 * (audit_main reads their values): --anchors and --public-key, together. */
static int verify_audit_args(int argc, char **argv, unsigned *load)
{
    static const struct option opts[] = {
        { "anchors", required_argument, NULL, 'a' },
        { "public-key", required_argument, NULL, 'k' },
        { NULL, 0, NULL, 0 },
    };
    int c;
    (void)load;
    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+", opts, NULL)) != -1)
        if (c != 'a' && c != 'k')
            return bad_arg(argv[0], argv[optind - 1]);
    return optind < argc ? bad_arg(argv[0], argv[optind]) : 0;
}

static int cmd_check_config(struct config **cfg, const char *path, int argc, char **argv)
{
    const struct config *c = *cfg;
    unsigned load = CONFIG_SECRETS;
    int rc = check_config_args(argc, argv, &load);
    if (rc != 0)
        return rc;
    printf("# %s: configuration is valid\n", path);
    if (!(load & CONFIG_SECRETS)) {
        printf("# secrets NOT checked (--no-secrets): their files and variables were not read\n");
        for (size_t i = 0; i < c->ntargets; i++)
            printf("#   %s: %s\n", c->targets[i].name, c->targets[i].secret_from);
    }
    config_print(c, stdout);
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

static int cmd_status(struct config **cfg, const char *path, int argc, char **argv)
{
    (void)path;
    return status_main(*cfg, argc, argv);
}

static const struct command commands[] = {
    { "run", "", "the daemon, in the foreground",
      "Runs until SIGTERM or SIGINT; SIGHUP re-reads the configuration.  Under\n"
      "systemd (Type=notify) it reports READY=1 once the state database answers\n"
      "with a current schema, and waits for the database until then (STATUS= says\n"
      "so).  Exit 69 when the state schema is missing or of another version.\n",
      "", true, no_args, cmd_run },
    { "once", "", "one full cycle, then exit (0: nothing left due now)",
      "Detects changes, sends what is due, records the answers and exits: 0 when\n"
      "nothing is left due now, 1 otherwise, 69 when the database is unavailable.\n",
      "", true, no_args, cmd_run },
    { "migrate", "", "create or upgrade the state schema",
      "Creates or upgrades the schema `epsync` in database.state, in one\n"
      "transaction; safe to run again.  The role needs CREATE on that database\n"
      "(or to own the schema `epsync`).\n",
      "", false, no_args, cmd_migrate },
    { "check-config", "[--no-secrets]", "validate the configuration and print it, secrets as ***",
      "Validates the configuration file and the holiday calendar it names, reads\n"
      "the secret files and variables, and prints the effective configuration with\n"
      "every secret as ***; an error is FILE:LINE:COL: message (exit 78).\n\n"
      "  --no-secrets   check everything except the secrets, which are named but\n"
      "                 not read (they exist only in the service's credentials\n"
      "                 directory): to check a change before `systemctl reload`\n",
      "", true, check_config_args, cmd_check_config },
    { "report", "[--from D] [--to D] [--target T] [--format text|csv|json|html] [--lang zh|en] [-o FILE]",
      "the sync-status report",
      "The sync-status report of the decisions decided in a period, from the state\n"
      "database.\n\n"
      "  --from YYYY-MM-DD   first decision date (default: 1 January of this year, CST)\n"
      "  --to YYYY-MM-DD     last decision date (default: today, CST)\n"
      "  --target T          one target only\n"
      "  --format F          text (default), csv, json or html\n"
      "  --lang L            zh (default) or en\n"
      "  -o, --output FILE   write to FILE (replaced whole) instead of stdout\n",
      " --from --to --target --format --lang -o --output ", false, NULL, cmd_report },
    { "show", "ID", "one decision: fields, state per target, attempts, audit",
      "Prints the decision's masked fields, its state at each target (receipt,\n"
      "attempts, last error), every attempt and every audit event.\n",
      "", false, NULL, cmd_show },
    { "retry", "ID | [--target T] [--state rejected|invalid|failed]", "requeue deliveries",
      "Requeues deliveries to be tried now (audited with your OS user); running\n"
      "daemons are woken at once.  Give a decision ID, or select by target and state\n"
      "(without --state: rejected, invalid and failed).  invalid decisions are read\n"
      "from the source again.\n\n"
      "  --target T   only deliveries to target T\n"
      "  --state S    rejected, invalid or failed (waiting after transient failures)\n",
      " --target --state ", false, NULL, cmd_retry },
    { "withdraw", "ID --reason TEXT", "withdraw a decision from every target",
      "Withdraws the decision wherever it is published and cancels it where it is\n"
      "not yet (audited with your OS user and the reason).\n",
      " --reason ", false, NULL, cmd_withdraw },
    { "verify-audit", "[--anchors FILE --public-key FILE]",
      "verify the audit hash chain (and that it still holds every signed anchor)",
      "Recomputes the audit hash chain; exit 1 naming the first broken link.  With\n"
      "--anchors and --public-key, also checks every signed anchor of the anchor file\n"
      "against the public key and that the chain still holds each anchored head;\n"
      "exit 1 naming the first anchor that no longer matches.\n\n"
      "  --anchors FILE      the anchor file the daemon appends to (audit.anchor_file)\n"
      "  --public-key FILE   the Ed25519 public key (PEM) of audit.anchor_key_file\n",
      " --anchors --public-key ", false, verify_audit_args, cmd_verify_audit },
    { "status", "", "targets, deadlines and daemons at a glance",
      "One screen: per target the deliveries by state, paused or not and why, the\n"
      "oldest due delivery, the last success and failure, deadlines missed and at\n"
      "risk; then the daemons on the state database and their last heartbeat.\n"
      "Exit 1 when something needs a person: a paused target, a missed deadline,\n"
      "rejected or invalid deliveries, a backlog over an hour, a dead daemon or none.\n",
      "", false, no_args, cmd_status },
};

static void usage(FILE *f)
{
    fprintf(f, "usage: epsync [-c FILE] COMMAND [ARGS]\n\n"
               "  -c FILE     configuration (default $EPSYNC_CONFIG, else /etc/epsync/epsync.yaml)\n"
               "  -h, --help  this help (epsync COMMAND --help: the command's own)\n"
               "  --version   print the version\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-13s %s\n  %-13s   %s\n", commands[i].name, commands[i].args, "",
                commands[i].help);
}

/* Whether the command's arguments ask for help: -h or --help where an
 * option may stand (not as the value of another option, not after --). */
static bool wants_help(const struct command *cmd, int argc, char **argv)
{
    char opt[64];
    for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help"))
            return true;
        snprintf(opt, sizeof opt, " %s ", argv[i]);
        if (argv[i][0] == '-' && strstr(cmd->valued, opt))
            i++;           /* its value */
    }
    return false;
}

static void command_help(const struct command *cmd)
{
    printf("usage: epsync [-c FILE] %s%s%s\n\n%s\n", cmd->name, *cmd->args ? " " : "",
           cmd->args, cmd->detail);
}

/* A configuration file that does not exist: say how to make one.  from
 * says where the path came from. */
static void no_config(const char *path, const char *from)
{
    fprintf(stderr, "epsync: the configuration file %s (%s) does not exist.\n"
                    "Create it from the example, as root:\n"
                    "  install -m 600 -o epsync -g epsync %s %s\n"
                    "and edit it; or name another file with -c FILE or $EPSYNC_CONFIG.\n",
            path, from, EPSYNC_EXAMPLE_CONFIG, path);
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
    int c, rc, first;

    /* No core file and no ptrace by the same user: the memory holds
     * secrets, tokens and source rows (the unit also sets LimitCORE=0). */
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    const char *from = "$EPSYNC_CONFIG";
    if (!path || !*path) {
        path = "/etc/epsync/epsync.yaml";
        from = "the default";
    }
    while ((c = getopt_long(argc, argv, "+c:h", opts, NULL)) != -1) {
        switch (c) {
        case 'c': path = optarg; from = "-c"; break;
        case 'h': usage(stdout); return 0;
        case 'V': printf("epsync %s\n", EPSYNC_VERSION); return 0;
        default: usage(stderr); return EX_USAGE_;
        }
    }
    if (optind >= argc) {
        usage(stderr);
        return EX_USAGE_;
    }
    first = optind;        /* the command; its arguments follow */
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(argv[first], commands[i].name) == 0)
            cmd = &commands[i];
    if (!cmd) {
        fprintf(stderr, "epsync: unknown command '%s'\n", argv[first]);
        usage(stderr);
        return EX_USAGE_;
    }
    if (wants_help(cmd, argc - first, argv + first)) {
        command_help(cmd);
        return 0;
    }
    unsigned load = cmd->secrets ? CONFIG_SECRETS : 0;
    if (cmd->pre && (rc = cmd->pre(argc - first, argv + first, &load)) != 0)
        return rc;
    log_init(LOG_INFO, LOG_TEXT);
    if (config_load_opts(&cfg, path, load, &e) < 0) {
        if (e.code == -ENOENT)     /* only the file itself is reported so */
            no_config(path, from);
        else
            fprintf(stderr, "%s\n", e.msg);
        config_free(cfg);
        return EX_CONFIG_;
    }
    log_init((enum log_level)cfg->log.level, (enum log_format)cfg->log.format);
    rc = cmd->fn(&cfg, path, argc - first, argv + first);
    config_free(cfg);
    return rc;
}
