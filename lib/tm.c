/* tm: RFC 3339, time zones by name, IB session strings. */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tm.h"

double
tm_now(void)
{
	struct timespec ts;
	const char *fix = getenv("REBAL_NOW");
	double t;

	if (fix != NULL && *fix != '\0' && tm_parse(fix, &t) == 0)
		return t;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* The range tm_fmt writes: 0000-01-01T00:00:00Z .. 9999-12-31T23:59:59.999Z */
#define TM_FMT_MIN	-62167219200.0
#define TM_FMT_MAX	253402300799.999

char *
tm_fmt(double t, char *buf)
{
	time_t s;
	long ms;
	struct tm tm;
	int n;

	/* Outside four-digit years (a garbage timestamp from a peer) the cast
	 * below is undefined; NaN goes to the far past. */
	if (isnan(t) || t < TM_FMT_MIN)
		t = TM_FMT_MIN;
	else if (t > TM_FMT_MAX)
		t = TM_FMT_MAX;
	s = (time_t)floor(t);
	ms = lround((t - (double)s) * 1000);
	if (ms >= 1000) {
		s++;
		ms = 0;
	}
	gmtime_r(&s, &tm);
	/* not strftime: its %Y does not pad years before 1000 */
	n = snprintf(buf, 32, "%04d-%02d-%02dT%02d:%02d:%02d",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	    tm.tm_min, tm.tm_sec);
	if (ms)
		snprintf(buf + n, 32 - n, ".%03ldZ", ms);
	else
		snprintf(buf + n, 32 - n, "Z");
	return buf;
}

static int
digits(const char **p, int n, int *out)
{
	int v = 0;

	while (n-- > 0) {
		if (!isdigit((unsigned char)**p))
			return -1;
		v = v * 10 + (*(*p)++ - '0');
	}
	*out = v;
	return 0;
}

int
tm_parse(const char *s, double *t)
{
	struct tm tm;
	int y, mo, d, h, mi, se, oh, om;
	double frac = 0, scale = 0.1;
	time_t base;

	memset(&tm, 0, sizeof tm);
	if (digits(&s, 4, &y) || *s++ != '-' || digits(&s, 2, &mo) ||
	    *s++ != '-' || digits(&s, 2, &d) || (*s != 'T' && *s != 't' &&
	    *s != ' '))
		return -1;
	s++;
	if (digits(&s, 2, &h) || *s++ != ':' || digits(&s, 2, &mi) ||
	    *s++ != ':' || digits(&s, 2, &se))
		return -1;
	if (*s == '.') {
		s++;
		if (!isdigit((unsigned char)*s))
			return -1;
		while (isdigit((unsigned char)*s)) {
			frac += (*s++ - '0') * scale;
			scale /= 10;
		}
	}
	if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 ||
	    se > 60)
		return -1;
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = se;
	base = timegm(&tm);
	if (*s == 'Z' || *s == 'z') {
		s++;
	} else if (*s == '+' || *s == '-') {
		int sign = *s++ == '-' ? -1 : 1;

		if (digits(&s, 2, &oh) || *s++ != ':' || digits(&s, 2, &om))
			return -1;
		base -= sign * (oh * 3600 + om * 60);
	} else {
		return -1;
	}
	if (*s != '\0')
		return -1;
	*t = (double)base + frac;
	return 0;
}

/* IB sends IANA names, legacy links and a few abbreviations. */
static const char *
zone_name(const char *tz)
{
	static const struct { const char *ib, *iana; } alias[] = {
		{ "EST", "America/New_York" }, { "EDT", "America/New_York" },
		{ "US/Eastern", "America/New_York" },
		{ "CST", "America/Chicago" }, { "CDT", "America/Chicago" },
		{ "US/Central", "America/Chicago" },
		{ "MST", "America/Denver" }, { "US/Mountain", "America/Denver" },
		{ "PST", "America/Los_Angeles" },
		{ "US/Pacific", "America/Los_Angeles" },
		{ "GMT", "UTC" }, { "UTC", "UTC" },
	};
	size_t i, n;

	if (tz == NULL || *tz == '\0')
		return NULL;
	for (i = 0; i < sizeof alias / sizeof alias[0]; i++) {
		n = strlen(alias[i].ib);
		/* "EST (Eastern Standard Time)" as older gateways write it */
		if (!strncmp(tz, alias[i].ib, n) && (tz[n] == '\0' ||
		    tz[n] == ' '))
			return alias[i].iana;
	}
	return tz;
}

static int
with_zone(const char *tz, char *saved, size_t cap)
{
	char path[512];
	const char *old = getenv("TZ");
	const char *z = zone_name(tz);
	FILE *f;

	if (z == NULL || strstr(z, "..") || z[0] == '/')
		return -1;
	snprintf(path, sizeof path, "/usr/share/zoneinfo/%s", z);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	fclose(f);
	saved[0] = '\0';
	if (old != NULL)
		snprintf(saved, cap, "=%s", old);
	setenv("TZ", z, 1);
	tzset();
	return 0;
}

static void
restore_zone(const char *saved)
{
	if (saved[0] == '=')
		setenv("TZ", saved + 1, 1);
	else
		unsetenv("TZ");
	tzset();
}

int
tm_local(const char *tz, time_t t, struct tm *out)
{
	char saved[512];

	if (with_zone(tz, saved, sizeof saved) < 0)
		return -1;
	localtime_r(&t, out);
	restore_zone(saved);
	return 0;
}

int
tm_mkutc(const char *tz, const struct tm *lt, time_t *out)
{
	char saved[512];
	struct tm tm = *lt;

	if (with_zone(tz, saved, sizeof saved) < 0)
		return -1;
	tm.tm_isdst = -1;
	*out = mktime(&tm);
	restore_zone(saved);
	return 0;
}

/* "YYYYMMDD:HHMM" or "HHMM" (on DAY) at *P into a UTC time; advances P. */
static int
stamp(const char **p, const char *tz, struct tm *day, time_t *out)
{
	struct tm tm;
	int y, mo, d, h, mi;
	const char *s = *p;

	if (strlen(s) >= 9 && s[8] == ':') {
		if (digits(&s, 4, &y) || digits(&s, 2, &mo) ||
		    digits(&s, 2, &d))
			return -1;
		s++;
		memset(day, 0, sizeof *day);
		day->tm_year = y - 1900;
		day->tm_mon = mo - 1;
		day->tm_mday = d;
	}
	tm = *day;
	if (digits(&s, 2, &h) || digits(&s, 2, &mi) || h > 24 || mi > 59)
		return -1;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = 0;
	*p = s;
	return tm_mkutc(tz, &tm, out);
}

int
tm_session(const char *hours, const char *tz, time_t now, time_t *open,
    time_t *close)
{
	const char *p = hours;
	time_t next = 0, prev = 0, a, b;
	struct tm day, probe;

	if (hours == NULL || tm_local(tz, now, &probe) < 0)
		return -1;
	memset(&day, 0, sizeof day);
	while (*p) {
		if (strlen(p) >= 15 && p[8] == ':' && !strncmp(p + 9, "CLOSED", 6)) {
			p += 15;
		} else {
			/* START-END[,START-END...] */
			for (;;) {
				if (stamp(&p, tz, &day, &a) < 0 || *p++ != '-' ||
				    stamp(&p, tz, &day, &b) < 0 || b <= a)
					return -1;
				if (now >= a && now < b) {
					*open = a;
					*close = b;
					return 1;
				}
				if (a > now && (next == 0 || a < next))
					next = a;
				if (b <= now && b > prev)
					prev = b;
				if (*p != ',')
					break;
				p++;
			}
		}
		if (*p == ';')
			p++;
		else if (*p != '\0')
			return -1;
	}
	*open = next;
	*close = prev;
	return 0;
}
