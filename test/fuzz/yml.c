/* yml: libFuzzer harness for the YAML loader (lib/yml.h): load the input as
 * a file, then look up the line of every node reached (bounded) and dump
 * the value as the tools do in their diagnostics. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "yml.h"
#include "memfile.h"

static int budget;

/* yml_line for V's node at PATH and its children, depth first. */
static void
walk(jv v, jv lines, jv path)
{
	int i, n;

	if (budget-- <= 0)
		goto out;
	(void)yml_line(lines, jv_copy(path));
	switch (jv_get_kind(v)) {
	case JV_KIND_OBJECT:
		jv_object_foreach(v, k, x) {
			walk(x, lines, jv_array_append(jv_copy(path), k));
			if (budget <= 0)
				break;
		}
		break;
	case JV_KIND_ARRAY:
		n = jv_array_length(jv_copy(v));
		for (i = 0; i < n && budget > 0; i++)
			walk(jv_array_get(jv_copy(v), i), lines,
			    jv_array_append(jv_copy(path), jv_number(i)));
		break;
	default:
		break;
	}
out:
	jv_free(v);
	jv_free(path);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	jv v, lines, s;

	v = yml_load(memfile(data, size), &lines);
	if (!jv_is_valid(v)) {
		s = jv_invalid_get_msg(v);
		if (jv_get_kind(s) != JV_KIND_STRING)
			abort();	/* yml_load promises a message */
		jv_free(s);
		return 0;
	}
	budget = 1000;
	walk(jv_copy(v), lines, jv_array());
	(void)yml_line(lines, JV_ARRAY(jv_string("no"), jv_number(7)));
	s = jv_dump_string(v, 0);
	jv_free(s);
	jv_free(lines);
	return 0;
}
