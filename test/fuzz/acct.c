/* acct: libFuzzer harness for the accounts.yaml loader (lib/acct.h): load
 * the input as a file; on success build every account record and the
 * strategy list as rebal-accounts does. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "acct.h"
#include "memfile.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct acct_list l;
	const char **strat;
	size_t i, n;

	if (acct_load(memfile(data, size), &l) != 0) {
		if (l.n != 0 || l.v != NULL)
			abort();	/* promised empty on error */
		return 0;
	}
	for (i = 0; i < l.n; i++) {
		if (l.v[i].client_id < 1 || l.v[i].client_id > ACCT_CID_MAX)
			abort();
		if (acct_find(&l, l.v[i].id) != &l.v[i])
			abort();	/* ids are unique */
		jv_free(acct_jv(&l.v[i]));
	}
	n = acct_strategies(&l, ACCT_ANY, &strat);
	for (i = 0; i < n; i++)
		(void)strlen(strat[i]);
	free(strat);
	acct_free(&l);
	return 0;
}
