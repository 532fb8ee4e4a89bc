/* calendar.h - working days (pure once loaded).
 *
 * Monday-Friday are working days, minus the public holidays, plus the
 * weekend days declared working days (调休), per year, from a YAML file:
 *
 *   2026:
 *     holidays: [2026-01-01, ...]
 *     workdays: [2026-01-04, ...]
 *
 * A year the file does not cover counts weekends only; callers warn about
 * it with calendar_covers(). */
#ifndef EPSYNC_CALENDAR_H
#define EPSYNC_CALENDAR_H

#include <stdbool.h>
#include <stddef.h>

#include "date.h"
#include "err.h"

typedef struct calendar calendar;

int calendar_load(calendar **out, const char *path, struct err *e);
/* Parse YAML text; name is used in error messages (FILE:LINE:COL). */
int calendar_parse(calendar **out, const char *text, size_t len, const char *name,
                   struct err *e);
void calendar_free(calendar *c);

bool calendar_is_workday(const calendar *c, date_t day);
/* The n-th working day after start (start itself not counted); n >= 0,
 * n == 0 returns start. */
date_t calendar_add_workdays(const calendar *c, date_t start, int n);
bool calendar_covers(const calendar *c, int year);

#endif
