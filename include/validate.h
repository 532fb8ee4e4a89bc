/* validate.h - local validation before anything is sent (pure, docs/rules.md). */
#ifndef EPSYNC_VALIDATE_H
#define EPSYNC_VALIDATE_H

#include "buf.h"
#include "config.h"
#include "date.h"

struct json_object;

/* Check the unmasked field set of a decision of `kind` decided on
 * decided_on, as of `today` (CST).  Appends one plain-words reason per
 * problem to reasons (a JSON array of strings, e.g. "party_credit_code:
 * check digit is wrong (expected 3)"); returns the number of problems. */
int validate_decision(struct json_object *fields, enum kind kind, date_t decided_on,
                      date_t today, struct json_object *reasons);

/* The penalty categories (penalty_types, docs/rules.md), as bits. */
enum penalty_type {
    PT_WARNING = 1u << 0,                /* 警告 */
    PT_CRITICISM = 1u << 1,              /* 通报批评 */
    PT_FINE = 1u << 2,                   /* 罚款 */
    PT_CONFISCATE_GAINS = 1u << 3,       /* 没收违法所得 */
    PT_CONFISCATE_PROPERTY = 1u << 4,    /* 没收非法财物 */
    PT_SUSPEND_LICENSE = 1u << 5,        /* 暂扣许可证件 */
    PT_DOWNGRADE = 1u << 6,              /* 降低资质等级 */
    PT_REVOKE_LICENSE = 1u << 7,         /* 吊销许可证件 */
    PT_RESTRICT_BUSINESS = 1u << 8,      /* 限制开展生产经营活动 */
    PT_ORDER_SUSPEND = 1u << 9,          /* 责令停产停业 */
    PT_ORDER_CLOSE = 1u << 10,           /* 责令关闭 */
    PT_RESTRICT_PRACTICE = 1u << 11,     /* 限制从业 */
    PT_DETENTION = 1u << 12,             /* 行政拘留 */
    PT_OTHER = 1u << 13,                 /* 其他 */
};

/* The categories named by a penalty_types value: a string of entries
 * separated by ",", "，", "、" or ";" (spaces around them ignored), or a
 * JSON array of strings.  *unknown (when not NULL) receives the number of
 * entries that are not a category. */
unsigned validate_penalty_types(struct json_object *value, int *unknown);

#endif
