/* jqf: a jq program (libjq) compiled once and applied to many jv values;
 * errors come back as text, nothing is printed. */
#ifndef REBAL_JQF_H
#define REBAL_JQF_H

#include <jv.h>

struct jqf;

/* Compile PROG. NULL on error, with the reason in *ERR (malloc'ed). */
struct jqf *jqf_compile(const char *prog, char **err);
/* Run the program on IN (consumed): an array of its outputs, or
 * jv_invalid_with_msg(reason) when it raised an error. */
jv jqf_run(struct jqf *f, jv in);
void jqf_free(struct jqf *f);

#endif
