/* date.h - calendar dates as day numbers (pure).
 *
 * A date_t counts days since 1970-01-01 in the proleptic Gregorian
 * calendar.  Legal dates ("today", due_on, the day of a publication) are
 * in China Standard Time (UTC+8) whatever the server's time zone. */
#ifndef EPSYNC_DATE_H
#define EPSYNC_DATE_H

#include <stdint.h>

typedef int32_t date_t;
#define DATE_NONE INT32_MIN

date_t date_from_ymd(int y, int m, int d);
void date_to_ymd(date_t day, int *y, int *m, int *d);
/* Strict "YYYY-MM-DD" (a real calendar day); 0 ok, -1 otherwise. */
int date_parse(const char *s, date_t *out);
/* "YYYY-MM-DD" into out (at least 11 bytes). */
void date_format(date_t day, char *out);
/* 0 = Monday … 6 = Sunday. */
int date_weekday(date_t day);
/* Same day n months later, clamped to the end of a shorter month. */
date_t date_add_months(date_t day, int months);
/* The China Standard Time date of an instant (Unix milliseconds). */
date_t date_cst(int64_t unix_ms);

#endif
