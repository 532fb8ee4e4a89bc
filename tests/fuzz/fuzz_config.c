/* fuzz_config - the YAML configuration (src/config*.c).
 *
 * Input: the whole configuration file.  It is parsed from memory
 * (config_parse_text: the same code as config_load without the file), so
 * nothing is written per input.  Secrets are named but not read: with
 * them the input would choose which files get opened, and a FIFO or
 * /proc/kmsg there would hang the run; reading a file is not parsing.
 *
 * A configuration that loads is also printed (check-config) and gives
 * each target its adapter, as the daemon's start does: the payload field
 * overrides are only merged there. */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static FILE *devnull;
    struct config *cfg = NULL;
    struct err e;

    if (!devnull && !(devnull = fopen("/dev/null", "we")))
        abort();
    /* relative paths resolve against a directory that does not exist */
    if (config_parse_text(&cfg, "/nonexistent/epsync/epsync.yaml", (const char *)data, size, 0,
                          &e) < 0) {
        if (cfg || !e.msg[0])
            abort();                 /* a failure sets no config and says why */
        return 0;
    }
    config_print(cfg, devnull);
    for (size_t i = 0; i < cfg->ntargets; i++) {
        adapter *a;
        if (config_target(cfg, cfg->targets[i].name) != &cfg->targets[i])
            abort();
        if (adapter_new(&a, &cfg->targets[i], cfg, &e) < 0) {
            fprintf(stderr, "accepted configuration, but: %s\n", e.msg);
            abort();
        }
        adapter_free(a);
    }
    config_free(cfg);
    return 0;
}
