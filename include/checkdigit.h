/* checkdigit.h - check characters of Chinese identifiers (pure).
 * GB 32100-2015 unified social credit code; GB 11643-1999 resident ID. */
#ifndef EPSYNC_CHECKDIGIT_H
#define EPSYNC_CHECKDIGIT_H

#include <stdbool.h>

#include "date.h"

/* Check character for the first 17 characters of a USCC, '\0' when they
 * are not all from the code's alphabet. */
char checkdigit_uscc(const char *first17);
bool checkdigit_uscc_valid(const char *code);     /* 18 chars, right check char */

/* Check character ('0'-'9' or 'X') for 17 digits, '\0' when not digits. */
char checkdigit_idno(const char *first17);
/* 18 characters, right check character, digits 7-14 a real date. */
bool checkdigit_idno_valid(const char *id);
/* Birth date of a valid ID number, DATE_NONE otherwise. */
date_t checkdigit_idno_birth(const char *id);
/* Does a party_id_type value name the resident ID card (NULL or "" count
 * as yes: the resident ID is the default)? */
bool checkdigit_is_resident_id_type(const char *id_type);

#endif
