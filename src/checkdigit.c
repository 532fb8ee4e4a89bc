/* checkdigit.c - check characters of Chinese identifiers (see checkdigit.h).
 *
 * The tables are the standards' own (docs/rules.md, "Validation"); a code is
 * judged on its exact characters: the USCC alphabet is upper case only,
 * as GB 32100 prints it.  A resident ID's check character 'X' is also
 * accepted in lower case, because clerks type it that way and the number
 * is the same. */
#include "checkdigit.h"

#include <string.h>

static const char uscc_alphabet[] = "0123456789ABCDEFGHJKLMNPQRTUWXY";
static const int uscc_weights[17] = {
    1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28,
};

static const int idno_weights[17] = { 7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2 };
static const char idno_check[11] = { '1', '0', 'X', '9', '8', '7', '6', '5', '4', '3', '2' };

static int uscc_value(char c)
{
    if (c == '\0')
        return -1;
    const char *p = strchr(uscc_alphabet, c);
    return p ? (int)(p - uscc_alphabet) : -1;
}

char checkdigit_uscc(const char *first17)
{
    if (!first17)
        return '\0';
    int sum = 0;
    for (int i = 0; i < 17; i++) {
        int v = uscc_value(first17[i]);
        if (v < 0)
            return '\0';
        sum += v * uscc_weights[i];
    }
    int check = 31 - sum % 31;
    return uscc_alphabet[check == 31 ? 0 : check];
}

bool checkdigit_uscc_valid(const char *code)
{
    if (!code || strlen(code) != 18)
        return false;
    char c = checkdigit_uscc(code);
    return c != '\0' && c == code[17];
}

char checkdigit_idno(const char *first17)
{
    if (!first17)
        return '\0';
    int sum = 0;
    for (int i = 0; i < 17; i++) {
        if (first17[i] < '0' || first17[i] > '9')
            return '\0';
        sum += (first17[i] - '0') * idno_weights[i];
    }
    return idno_check[sum % 11];
}

/* Digits 7-14 (1-based) as a real date, whatever the check character. */
static date_t birth_digits(const char *id)
{
    char s[11];
    memcpy(s, id + 6, 4);
    s[4] = '-';
    memcpy(s + 5, id + 10, 2);
    s[7] = '-';
    memcpy(s + 8, id + 12, 2);
    s[10] = '\0';
    date_t d;
    return date_parse(s, &d) == 0 ? d : DATE_NONE;
}

bool checkdigit_idno_valid(const char *id)
{
    if (!id || strlen(id) != 18)
        return false;
    char c = checkdigit_idno(id);
    char last = id[17] == 'x' ? 'X' : id[17];
    return c != '\0' && c == last && birth_digits(id) != DATE_NONE;
}

date_t checkdigit_idno_birth(const char *id)
{
    return checkdigit_idno_valid(id) ? birth_digits(id) : DATE_NONE;
}

/* Spellings of the resident ID card type seen in case systems: the
 * Chinese names, the numeric codes "1" and "111" (the credit data
 * standards' code for 居民身份证) and our own English name. */
static const char *const resident_id_types[] = {
    "身份证", "居民身份证", "1", "111", "resident_id",
};

bool checkdigit_is_resident_id_type(const char *id_type)
{
    if (!id_type || !*id_type)
        return true;
    for (size_t i = 0; i < sizeof resident_id_types / sizeof *resident_id_types; i++)
        if (!strcmp(id_type, resident_id_types[i]))
            return true;
    return false;
}
