/* ablm: libFuzzer harness for the Ably protocol-message handling of
 * lib/ablm.h (ably-listen's reading of what the server sends). The input is
 * one WebSocket text frame (a ProtocolMessage), parsed with jvx_parse; its
 * messages are expanded (ablm_messages), their data decoded by their
 * encoding chain (ablm_decode) and turned into event records (ablm_event);
 * its error is formatted (ablm_errstr); the raw text also goes through the
 * Link header parser (ablm_link_next) and the channel file name mapping
 * (ablm_fname); message ids go through a small seen-set and its save/load. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ablm.h"
#include "jvx.h"

static volatile size_t sink;

static void
frame(jv pm)
{
	struct ablm_seen seen, back;
	jv msgs, m, d, ev, err, s;
	const char *chan;
	char buf[256], *rest, *p;
	int i, n;

	ablm_seen_init(&seen, 3);
	chan = jvx_str(pm, "channel");
	msgs = ablm_messages(pm);
	n = jv_array_length(jv_copy(msgs));
	for (i = 0; i < n; i++) {
		m = jv_array_get(jv_copy(msgs), i);
		rest = NULL;
		d = ablm_decode(jvx_get(m, "data"), jvx_str(m, "encoding"),
		    &rest);
		free(rest);
		m = jv_object_set(m, jv_string("data"), d);
		ev = ablm_event(m, chan ? chan : "etf-blend-200-35", "ably",
		    1756900000.5);
		s = jv_dump_string(ev, 0);
		sink += strlen(jv_string_value(s));
		jv_free(s);
		if (jvx_str(m, "id") != NULL) {
			sink += ablm_seen_has(&seen, jvx_str(m, "id"));
			ablm_seen_add(&seen, jvx_str(m, "id"));
		}
		jv_free(m);
	}
	jv_free(msgs);
	ablm_seen_init(&back, 2);
	ablm_seen_load(&back, ablm_seen_jv(&seen));
	ablm_seen_free(&back);
	ablm_seen_free(&seen);
	err = jvx_get(pm, "error");
	sink += strlen(ablm_errstr(err, buf, sizeof buf));
	jv_free(err);
	if (chan != NULL) {
		p = ablm_fname(chan);
		sink += strlen(p);
		free(p);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text, *p;
	jv pm;

	text = malloc(size + 1);
	memcpy(text, data, size);
	text[size] = '\0';
	pm = jvx_parse(text, (int)size);
	if (jv_get_kind(pm) == JV_KIND_OBJECT)
		frame(pm);
	jv_free(pm);
	/* The same bytes as a Link header value and as a channel name. */
	if ((p = ablm_link_next(text)) != NULL) {
		sink += strlen(p);
		free(p);
	}
	p = ablm_fname(text);
	sink += strlen(p);
	free(p);
	free(text);
	return 0;
}
