/* tws: libFuzzer harness for the TWS frame reader (lib/twsf.h) and the
 * message decoders (lib/twsm.h). The first input byte picks the chunk size
 * the rest is fed in (1..64 bytes, so frames arrive split and coalesced);
 * every frame is decoded as it came, then once more under each message id
 * the decoders know, so every decoder sees every field layout. */
#include <float.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "twsf.h"
#include "twsm.h"

static const int ids[] = {
	1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 15, 45, 46, 49, 52, 53, 54, 55,
	57, 58, 59, 61, 62, 63, 64, 71, 72, 73, 74, 81,
};

static volatile size_t sink;

static void
touch(const char *s)
{
	if (s != NULL)
		sink += strlen(s);
}

static void
touch_contract(const struct twsm_contract *c)
{
	touch(c->symbol);
	touch(c->sec_type);
	touch(c->expiry);
	touch(c->right);
	touch(c->multiplier);
	touch(c->exchange);
	touch(c->primary_exchange);
	touch(c->currency);
	touch(c->local_symbol);
	touch(c->trading_class);
}

/* Read every string a decoded message points at (they live in the frame). */
static void
use(const struct twsm_msg *m)
{
	touch(twsm_name(m->id));
	touch(m->err);
	switch (m->type) {
	case TWSM_ERROR:
		touch(m->u.error.text);
		touch(m->u.error.advanced);
		touch(twsm_class_name(m->u.error.cls));
		sink += twsm_err_order_done(m->u.error.code);
		break;
	case TWSM_MANAGED_ACCTS:
		touch(m->u.managed.accounts);
		break;
	case TWSM_POSITION:
		touch(m->u.position.account);
		touch(m->u.position.model_code);
		touch_contract(&m->u.position.c);
		break;
	case TWSM_ACCOUNT_SUMMARY:
	case TWSM_ACCOUNT_UPDATE_MULTI:
		touch(m->u.value.account);
		touch(m->u.value.model_code);
		touch(m->u.value.tag);
		touch(m->u.value.value);
		touch(m->u.value.currency);
		break;
	case TWSM_CONTRACT_DATA:
		touch_contract(&m->u.contract.c);
		touch(m->u.contract.time_zone);
		touch(m->u.contract.trading_hours);
		touch(m->u.contract.liquid_hours);
		touch(m->u.contract.stock_type);
		break;
	case TWSM_TICK_PRICE:
	case TWSM_TICK_SIZE:
		sink += twsm_price_kind(m->u.tick.tick_type);
		break;
	case TWSM_TICK_GENERIC:
	case TWSM_TICK_STRING:
		touch(m->u.tick_string.value);
		break;
	case TWSM_TICK_REQ_PARAMS:
		touch(m->u.tick_params.bbo_exchange);
		break;
	case TWSM_ORDER_STATUS:
		touch(m->u.status.why_held);
		if (m->u.status.status != NULL)
			sink += twsm_status_terminal(m->u.status.status);
		break;
	case TWSM_OPEN_ORDER:
		touch_contract(&m->u.order.c);
		touch(m->u.order.action);
		touch(m->u.order.order_type);
		touch(m->u.order.tif);
		touch(m->u.order.account);
		touch(m->u.order.order_ref);
		touch(m->u.order.status);
		touch(m->u.order.warning_text);
		touch(m->u.order.commission_currency);
		break;
	case TWSM_EXECUTION:
		touch_contract(&m->u.exec.c);
		touch(m->u.exec.exec_id);
		touch(m->u.exec.time);
		touch(m->u.exec.account);
		touch(m->u.exec.side);
		touch(m->u.exec.order_ref);
		break;
	case TWSM_COMMISSION:
		touch(m->u.commission.exec_id);
		touch(m->u.commission.currency);
		break;
	default:
		break;
	}
}

static void
decode(struct twsf_msg *f)
{
	struct twsm_msg m;

	twsm_decode(f, &m);
	use(&m);
	twsm_msg_free(&m);
}

/* The payload of frame F (fields joined by NULs) with field 0 replaced by
 * ID, framed again and decoded. */
static void
redecode(const struct twsf_msg *f, int id)
{
	struct twsf_buf b = {0};
	struct twsf_rd r = {0};
	struct twsf_msg g;
	int i;

	twsf_begin(&b);
	twsf_int(&b, id);
	for (i = 1; i < f->n; i++)
		twsf_str(&b, f->f[i]);
	twsf_end(&b);
	twsf_feed(&r, b.p, b.len);
	if (twsf_frame(&r, &g) == 1)
		decode(&g);
	twsf_msg_free(&g);
	twsf_rd_free(&r);
	twsf_buf_free(&b);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct twsf_rd r = {0};
	struct twsf_msg f;
	size_t chunk, off, n, k;
	int st = 0;

	if (size < 1)
		return 0;
	chunk = data[0] % 64 + 1;
	for (off = 1; off < size && st >= 0; off += n) {
		n = size - off < chunk ? size - off : chunk;
		twsf_feed(&r, data + off, n);
		while ((st = twsf_frame(&r, &f)) == 1) {
			for (k = 0; k < sizeof ids / sizeof ids[0]; k++)
				if (f.n > 0)
					redecode(&f, ids[k]);
			decode(&f);	/* takes F over */
			twsf_msg_free(&f);
		}
	}
	twsf_rd_free(&r);
	return 0;
}
