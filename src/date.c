/* date.c - calendar dates as day numbers (see date.h).
 *
 * The conversions are Howard Hinnant's days_from_civil / civil_from_days:
 * exact for the whole proleptic Gregorian calendar, no tables, no libc
 * time zone state (mktime/localtime would follow the server's TZ, and
 * legal dates are always China Standard Time). */
#include "date.h"

#include <stdio.h>
#include <string.h>

#define CST_OFFSET_MS (8LL * 3600 * 1000)
#define DAY_MS (86400LL * 1000)

static int is_leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int y, int m)
{
    static const int len[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    return m == 2 && is_leap(y) ? 29 : len[m - 1];
}

date_t date_from_ymd(int y, int m, int d)
{
    y -= m <= 2;
    int era = (y >= 0 ? y : y - 399) / 400;
    int yoe = y - era * 400;                                  /* [0, 399] */
    int doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1; /* [0, 365] */
    int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;          /* [0, 146096] */
    return (date_t)(era * 146097 + doe - 719468);
}

void date_to_ymd(date_t day, int *y, int *m, int *d)
{
    int z = day + 719468;
    int era = (z >= 0 ? z : z - 146096) / 146097;
    int doe = z - era * 146097;
    int yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int mp = (5 * doy + 2) / 153;
    int dd = doy - (153 * mp + 2) / 5 + 1;
    int mm = mp < 10 ? mp + 3 : mp - 9;
    *y = yoe + era * 400 + (mm <= 2);
    *m = mm;
    *d = dd;
}

static int digits(const char *s, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

int date_parse(const char *s, date_t *out)
{
    if (!s || strlen(s) != 10 || s[4] != '-' || s[7] != '-')
        return -1;
    int y = digits(s, 4), m = digits(s + 5, 2), d = digits(s + 8, 2);
    if (y < 1 || m < 1 || m > 12 || d < 1 || d > days_in_month(y, m))
        return -1;
    *out = date_from_ymd(y, m, d);
    return 0;
}

void date_format(date_t day, char *out)
{
    int y, m, d;
    date_to_ymd(day, &y, &m, &d);
    /* Years outside 0..9999 cannot be written in 10 bytes; they only come
     * from arithmetic gone wrong, so show them as such. */
    if (y < 0 || y > 9999) {
        memcpy(out, "----------", 11);
        return;
    }
    snprintf(out, 11, "%04d-%02d-%02d", y, m, d);
}

int date_weekday(date_t day)
{
    /* 1970-01-01 was a Thursday (3 with Monday = 0). */
    int w = (int)((day + 3) % 7);
    return w < 0 ? w + 7 : w;
}

date_t date_add_months(date_t day, int months)
{
    int y, m, d;
    date_to_ymd(day, &y, &m, &d);
    long total = (long)y * 12 + (m - 1) + months;
    long ny = total >= 0 ? total / 12 : -((-total + 11) / 12);
    int nm = (int)(total - ny * 12) + 1;
    int dim = days_in_month((int)ny, nm);
    return date_from_ymd((int)ny, nm, d > dim ? dim : d);
}

date_t date_cst(int64_t unix_ms)
{
    int64_t t = unix_ms + CST_OFFSET_MS;
    int64_t q = t / DAY_MS;
    if (t % DAY_MS < 0)
        q--;                /* floor, for instants before 1970 */
    return (date_t)q;
}
