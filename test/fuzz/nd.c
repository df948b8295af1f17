/* nd: libFuzzer harness for the NDJSON job reader (lib/nd.h nd_next): the
 * input is a whole file of lines, read through fmemopen(3); every record
 * read is dumped back to text and freed. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nd.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct nd_in in;
	char *copy;
	jv rec, s;
	int r;

	if (size == 0)
		return 0;
	/* fmemopen wants a writable buffer even for "r". */
	copy = malloc(size);
	memcpy(copy, data, size);
	memset(&in, 0, sizeof in);
	in.name = "<fuzz>";
	if ((in.f = fmemopen(copy, size, "r")) == NULL)
		abort();
	while ((r = nd_next(&in, &rec)) != 0) {
		if (r < 0)
			continue;
		s = jv_dump_string(rec, 0);
		free(strdup(jv_string_value(s)));
		jv_free(s);
	}
	nd_close(&in);
	free(copy);
	return 0;
}
