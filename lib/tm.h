/* tm: time helpers: RFC 3339 UTC in and out, wall times in named time zones,
 * and IB session strings (liquid/trading hours) for market-hours decisions. */
#ifndef REBAL_TM_H
#define REBAL_TM_H

#include <time.h>

/* Seconds since the epoch, with fractions. REBAL_NOW (RFC 3339), when set,
 * fixes the clock for tests and rehearsals. */
double tm_now(void);
/* "2026-11-23T01:49:19Z", with ".mmm" when T has milliseconds. BUF >= 32.
 * T is clamped to years 0000..9999; NaN is 0000-01-01T00:00:00Z. */
char *tm_fmt(double t, char *buf);
/* Parse RFC 3339 (Z or +hh:mm offset, optional fraction). 0 ok, -1 bad. */
int tm_parse(const char *s, double *t);

/* Broken-down local time of T in zone TZ (IANA name or IB alias such as
 * "US/Eastern", "EST"). -1 when the zone is unknown. */
int tm_local(const char *tz, time_t t, struct tm *out);
/* The UTC time of local wall time LT in zone TZ. -1 when unknown. */
int tm_mkutc(const char *tz, const struct tm *lt, time_t *out);

/* Market state at NOW for an IB hours string in zone TZ
 * ("20221229:0930-20221229:1600;20221230:CLOSED", also "...:0930-1600"):
 * returns 1 inside a session (*open, *close of it), 0 outside (*open = start
 * of the next session, 0 if none listed; *close = end of the previous one, 0
 * if none), -1 on a malformed string or unknown zone. */
int tm_session(const char *hours, const char *tz, time_t now, time_t *open,
    time_t *close);

#endif
