/* cal2026.h - the holiday calendar of National Day 2026 for unit tests:
 * 1-7 October off (weekdays listed), Saturday 10 October a working day. */
#ifndef EPSYNC_TEST_CAL2026_H
#define EPSYNC_TEST_CAL2026_H

#include <stdlib.h>
#include <string.h>

#include "calendar.h"

static calendar *cal2026(void)
{
    static const char *text = "2026:\n  holidays: [2026-10-01, 2026-10-02, 2026-10-05, "
                              "2026-10-06, 2026-10-07]\n  workdays: [2026-10-10]\n";
    calendar *c = NULL;
    struct err e;
    if (calendar_parse(&c, text, strlen(text), "test.yaml", &e) < 0)
        abort();
    return c;
}

#endif
