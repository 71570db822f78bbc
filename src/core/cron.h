/* cron.h - cron expressions and time zones for scheduled operations
 * (docs/schedules.md): a pure parser of the 5-field cron syntax, a pure
 * parser of TZif time-zone data (RFC 8536, as in /usr/share/zoneinfo),
 * and the next-fire-time calculator over both.
 *
 * No libc time-zone state is used (no setenv("TZ"), no localtime): a zone
 * is a value the caller holds, so any thread may compute with any zone.
 * cron_zone_load is the one call that touches the file system (reads one
 * small file, at most CRON_ZONE_FILE_MAX bytes); everything else is pure.
 *
 * Every call returns 0 or -1; on -1 a message for the user is in err.
 */
#ifndef BERTH_CRON_H
#define BERTH_CRON_H

#include <stddef.h>
#include <stdint.h>

#define CRON_EXPR_MAX 256         /* longest expression accepted */
#define CRON_ZONE_NAME_MAX 64     /* longest zone name accepted */
#define CRON_ZONE_FILE_MAX 65536  /* largest TZif file read */
#define CRON_ZONE_TRANS_MAX 2000  /* most transitions kept */
#define CRON_HORIZON_YEARS 9      /* cron_next looks no further ahead */

/* A parsed expression: one bit per allowed value of each field. */
struct cron {
    uint64_t minute; /* bits 0-59 */
    uint32_t hour;   /* bits 0-23 */
    uint32_t dom;    /* bits 1-31 */
    uint16_t month;  /* bits 1-12 */
    uint8_t dow;     /* bits 0-6, Sunday 0 */
    /* The field began with '*': with both restricted a day matches when
     * either matches (cron's rule); with one '*', the other decides. */
    int dom_star, dow_star;
};

/* Parses "MIN HOUR DOM MON DOW": values, ranges a-b, lists a,b, steps
 * * / n and a-b/n and a/n (a to the field's end), month names jan-dec and
 * day names sun-sat (any case), day 7 = Sunday; or one of @yearly
 * @annually @monthly @weekly @daily @midnight @hourly. */
int cron_parse(const char *expr, struct cron *c, char *err, size_t errlen);

/* A time zone: its transitions and, past the last one, its POSIX rule. */
struct cron_rule_date {
    char kind;      /* 'J' (1-365, no Feb 29), 'D' (0-365), 'M' (month.week.day) */
    int n, m, w, d; /* n for J/D; m, w, d for M */
    int32_t time;   /* seconds after local midnight */
};

struct cron_zone {
    char name[CRON_ZONE_NAME_MAX];
    int ntrans, ntypes;
    int64_t trans[CRON_ZONE_TRANS_MAX];
    uint8_t trans_type[CRON_ZONE_TRANS_MAX];
    int32_t type_off[256]; /* seconds east of UTC */
    int has_rule;          /* the footer's rule applies after trans[ntrans-1] */
    int rule_dst;          /* the rule has daylight time */
    int32_t std_off, dst_off;
    struct cron_rule_date start, end;
};

/* Parses TZif data (version 1, 2, 3 or 4; leap-second zones refused).
 * z is filled; its name is left alone. */
int cron_zone_parse(const uint8_t *data, size_t len, struct cron_zone *z, char *err,
                    size_t errlen);
/* Parses a POSIX TZ rule ("CET-1CEST,M3.5.0,M10.5.0/3") into z's rule. */
int cron_zone_parse_rule(const char *s, struct cron_zone *z, char *err, size_t errlen);
/* 1 if name is a well-formed zone name (letters, digits, '_', '-', '+',
 * '/' between parts, no part starting with '.'). */
int cron_zone_name_valid(const char *name);
/* "UTC" (or "Etc/UTC", "") answers *out NULL: no zone needed. Else reads
 * dir/name (dir NULL: $TZDIR or /usr/share/zoneinfo) into a malloc'ed
 * zone (cron_zone_free). Unknown or malformed zones answer -1. */
int cron_zone_load(const char *name, const char *dir, struct cron_zone **out, char *err,
                   size_t errlen);
void cron_zone_free(struct cron_zone *z);
/* Seconds east of UTC at instant t (z NULL: UTC, 0). */
int32_t cron_zone_offset(const struct cron_zone *z, int64_t t);

/* The first instant after `after` (seconds since the epoch, UTC) whose
 * wall-clock time in z (NULL: UTC) matches c, within CRON_HORIZON_YEARS.
 * A wall-clock time a daylight change skips does not fire; one it repeats
 * fires once, at its first occurrence. -1 when nothing matches (an
 * expression like "0 0 30 2 *") or `after` is out of range. */
int cron_next(const struct cron *c, const struct cron_zone *z, int64_t after, int64_t *next);

#endif
