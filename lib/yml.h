/* yml: a YAML file loaded into a jv value (libyaml), with the line of every
 * node kept beside it so that validators can say "file:line: problem". */
#ifndef REBAL_YML_H
#define REBAL_YML_H

#include <jv.h>

/* Load the first document of PATH. Plain scalars are typed by the YAML 1.2
 * core schema (null, true/false, numbers); quoted ones stay strings. On
 * success *lines (if LINES) mirrors the value: a scalar's line as a number, a
 * mapping as {"": line, key: lines...}, a sequence as [line, lines...].
 * On error returns jv_invalid_with_msg("PATH:LINE: reason"). Mappings and
 * sequences nested deeper than YML_MAX_DEPTH, and documents of more than
 * YML_MAX_NODES nodes once aliases are expanded, are errors (no stack
 * overflow, no "billion laughs"). */
jv yml_load(const char *path, jv *lines);
#define YML_MAX_DEPTH	100
#define YML_MAX_NODES	100000

/* yml_load with its error printed (warnx "PATH:LINE: reason"): 0 with
 * *doc and *lines (if LINES) set, or -1 with nothing to free. */
int yml_load_warn(const char *path, jv *doc, jv *lines);

/* Line of the node at PATH (a jv array of keys and indices, consumed) in
 * LINES (not consumed); the nearest existing ancestor's line when missing. */
int yml_line(jv lines, jv path);

#endif
