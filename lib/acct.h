/* acct: accounts.yaml loaded and validated (file:line diagnostics), IB client
 * ids derived and checked for collisions, account records as jv. */
#ifndef REBAL_ACCT_H
#define REBAL_ACCT_H

#include <stddef.h>
#include <jv.h>

/* Account types, and the modes that select them (ACCT_ANY: both). */
#define ACCT_PAPER	1
#define ACCT_LIVE	2
#define ACCT_ANY	(ACCT_PAPER | ACCT_LIVE)

#define ACCT_CID_MAX	2147483647L	/* IB client ids are positive int32 */

struct acct {
	char	*id;		/* account_id, [A-Za-z0-9]+ */
	int	 type;		/* ACCT_PAPER or ACCT_LIVE */
	char	*strategy;	/* strategy_name; NULL only if disabled */
	int	 enabled;	/* default 1 */
	double	 reserve;	/* cash_reserve_percent 0..100, default 0 */
	char	*replacement_set; /* NULL: none */
	int	 pdt;		/* pdt_protection_enabled, default 0 */
	int	 moc;		/* order_type: 0 market (default), 1 moc */
	long	 client_id;	/* explicit, else acct_client_id(id) */
	int	 line;		/* line of the entry in the file */
};

struct acct_list {
	struct acct	*v;
	size_t		 n;
	char		*path;
};

/* Load and validate PATH into *L. Unknown keys are warned about on stderr
 * ("tool: file:line: ..."). Returns 0, or EX_CONFIG after printing every
 * problem found as "file:line: message" (L is then empty). */
int acct_load(const char *path, struct acct_list *l);
void acct_free(struct acct_list *l);

/* "paper", "live", "all": ACCT_PAPER, ACCT_LIVE, ACCT_ANY; -1 otherwise. */
int acct_mode(const char *s);
/* The mode from $TRADING_MODE ("paper" or "live"), ACCT_PAPER when unset or
 * empty (as upstream); -1 (and a diagnostic) when it holds anything else. */
int acct_mode_env(void);
const char *acct_type_name(int type);

/* The account with id ID, or NULL. */
const struct acct *acct_find(const struct acct_list *l, const char *id);
/* The distinct strategies of the enabled accounts whose type is in MODE, in
 * file order. *OUT is a malloc'd array (free it) of strings owned by L. */
size_t acct_strategies(const struct acct_list *l, int mode, const char ***out);

/* The client id derived from an account id: the integer of its digits
 * (U21240574 -> 21240574), reduced modulo 2147483647 when larger; when that
 * is 0 (no digits, all zeros, an exact multiple) the FNV-1a hash of the id
 * mapped into 1..2147483646. Never 0, always a positive int32. */
long acct_client_id(const char *id);

/* The client id a job's account record ACCT (not consumed) gives account
 * ID: its "client_id" when set, else acct_client_id(ID). -1 when the record
 * has a client_id that is not a whole number in 1..ACCT_CID_MAX (0 is the
 * id TWS gives its own master client: never ours). */
long acct_job_client_id(jv acct, const char *id);

/* The account record {"id","type","strategy","enabled",
 * "cash_reserve_percent","replacement_set","pdt_protection","order_type",
 * "client_id"}. */
jv acct_jv(const struct acct *a);

#endif
