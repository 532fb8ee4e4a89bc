/* fuzz_province - the province gateway's answers (src/adapter_province.c).
 *
 * Input: three header bytes, then the answer's body.
 *   byte 0  bits 0-3  status code (fuzz_statuses)
 *           bits 4-5  operation: publish, update, withdraw, publish
 *   byte 1  how many records the batch carried: 1 + byte % batch_size
 *           (a withdraw is always one revoke)
 *   byte 2  answer flags (fuzz_resp): content type, Retry-After, cut, reset
 *
 * The records alternate between the penalty and the licence table, as a
 * mixed batch does.  A province adapter keeps no state between requests
 * (each is signed on its own, there is no token), so one adapter serves
 * every input: the answer is all there is to parse, and building the
 * adapter's mapping tables per input would take most of the time. */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_in in = { data, size };
    unsigned b0 = fuzz_byte(&in), b1 = fuzz_byte(&in), flags = fuzz_byte(&in);
    long status = fuzz_statuses[b0 & 15];
    enum op op = ((b0 >> 4) & 3) == 3 ? OP_PUBLISH : (enum op)((b0 >> 4) & 3);
    static adapter *a;
    size_t n;
    struct delivery **d;
    struct outcome *o;
    struct http_resp r;

    if (!a)
        a = fuzz_adapter("province");
    n = 1 + b1 % adapter_batch_max(a, op);
    d = xcalloc(n, sizeof *d);
    o = xcalloc(n, sizeof *o);
    for (size_t i = 0; i < n; i++)
        d[i] = fuzz_delivery("province", (int)i, i % 2 ? KIND_LICENSE : KIND_PENALTY, op);
    fuzz_resp(&r, status, flags, in.p, in.n);
    adapter_parse(a, d, n, &r, o);
    http_resp_clear(&r);
    fuzz_check_outcomes(o, n);
    for (size_t i = 0; i < n; i++)
        delivery_free(d[i]);
    free(d);
    free(o);
    return 0;
}
