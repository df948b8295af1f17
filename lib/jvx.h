/* jvx: small helpers over libjq's jv values: typed field access that does not
 * consume its object, number formatting by tick, and marking a job failed. */
#ifndef REBAL_JVX_H
#define REBAL_JVX_H

#include <jv.h>

/* Field KEY of OBJ (not consumed); jv_null() when OBJ is no object or KEY
 * is absent. The result is a new reference. */
jv jvx_get(jv obj, const char *key);
/* 1 and *out when OBJ.KEY is a finite number, else 0. */
int jvx_num(jv obj, const char *key, double *out);
/* OBJ.KEY as a C string, valid while OBJ holds it; NULL if not a string. */
const char *jvx_str(jv obj, const char *key);
/* 1 if OBJ.KEY is true, 0 if false/absent/null, DEF for other kinds. */
int jvx_bool(jv obj, const char *key, int def);

/* Parse JSON text S of N bytes like jv_parse_sized, for text from outside
 * (NDJSON lines, network frames, HTTP bodies), with two differences: text
 * that libjq 1.6 would leak memory on (a string after another value with no
 * separator, inside an array or object: [1 "x"]) is refused before libjq
 * sees it, with jq's message; and an error message quotes at most the first
 * 48 bytes of the text, not all of it. */
jv jvx_parse(const char *s, int n);

/* A number rounded to a multiple of TICK (> 0) by MODE: 0 nearest, -1 down,
 * +1 up; the result is the double nearest the decimal, so it prints short. */
double jvx_round_tick(double x, double tick, int mode);
/* Round half to even to an integer (Python round()). */
double jvx_round_even(double x);

/* Mark JOB (consumed, returned) failed: status "failed" and error {code,
 * message, tool}; the message also goes to stderr with the job's account. */
jv jvx_fail(jv job, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* The job's account id: job.account.id, else job.account_id, else "-". */
const char *jvx_account(jv job);

#endif
