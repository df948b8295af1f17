/* ablm: Ably messages for a subscriber: the messages of a ProtocolMessage with
 * fields taken from the parent, payload decoding, the event record, a bounded
 * set of seen message ids, and the paging links of the history API. */
#ifndef REBAL_ABLM_H
#define REBAL_ABLM_H

#include <stddef.h>
#include <jv.h>

/* ProtocolMessage actions (TR2) and ATTACHED flags (TR3) that we use. */
enum {
	ABLM_HEARTBEAT = 0, ABLM_ACK = 1, ABLM_NACK = 2, ABLM_CONNECTED = 4,
	ABLM_DISCONNECT = 5, ABLM_DISCONNECTED = 6, ABLM_CLOSE = 7,
	ABLM_CLOSED = 8, ABLM_ERROR = 9, ABLM_ATTACH = 10, ABLM_ATTACHED = 11,
	ABLM_DETACH = 12, ABLM_DETACHED = 13, ABLM_MESSAGE = 15, ABLM_AUTH = 17
};
#define ABLM_HAS_BACKLOG	(1 << 1)
#define ABLM_RESUMED		(1 << 2)

/* 0 when ProtocolMessage PM (not consumed) is an object whose fields that a
 * subscriber reads have their protocol types (action an integer 0..255; id,
 * channel, channelSerial, connectionId, connectionKey strings; timestamp a
 * number; flags a non-negative integer; error an object with integer code
 * and statusCode (0..999999999) and a string message; connectionDetails an
 * object with a string connectionKey and numbers maxIdleInterval and
 * connectionStateTtl; the messages of a MESSAGE an array of messages that
 * pass ablm_check_msg). Null counts as absent; unknown fields are not
 * looked at. Else -1 with what is wrong in WHY. */
int ablm_check(jv pm, char *why, size_t len);
/* The same for one message (a messages[] element or a history item): an
 * object; id, name, encoding, clientId, connectionId strings; timestamp a
 * number; action a number or a string. */
int ablm_check_msg(jv m, char *why, size_t len);

/* 1 when the N bytes at S are UTF-8 (no overlong forms, no surrogates,
 * nothing above U+10FFFF), else 0. */
int ablm_utf8(const void *s, size_t n);

/* The messages[] of ProtocolMessage PM (not consumed), each with a missing
 * id ("<PM.id>:<index>"), connectionId and timestamp taken from PM (TM2a/c/f).
 * An empty array when PM has none. */
jv ablm_messages(jv pm);

/* Decode DATA (consumed) by the encoding chain ENC ("utf-8/base64", "json",
 * NULL), right to left. Steps that cannot be applied (cipher, vcdiff, unknown,
 * or a failing one) stop the decoding: *rest (if REST) gets a malloc'd copy of
 * the steps left, else NULL. A string result that holds a JSON object or array
 * is parsed (JSON sent as a plain string). */
jv ablm_decode(jv data, const char *enc, char **rest);

/* The event record (DESIGN section 2) of message MSG (not consumed) of
 * CHANNEL, MSG having an id and data already decoded: {id, event_id (the
 * payload's eventId or null), strategy, exec (or null), source,
 * published_at (MSG.timestamp or null), received_at (NOW, seconds), data}. */
jv ablm_event(jv msg, const char *channel, const char *source, double now);

/* "code C status S: message" of an ErrorInfo (not consumed), into BUF; the
 * diag_secret strings in the message are masked before it is cut. */
const char *ablm_errstr(jv err, char *buf, size_t len);

/* The target of the rel="next" link in Link header value(s) HDR (several
 * links separated by commas), malloc'd; NULL when there is none. */
char *ablm_link_next(const char *hdr);

/* A channel name as a file name: bytes other than [A-Za-z0-9_-] and a
 * leading '.' become %XX. Malloc'd. */
char *ablm_fname(const char *channel);

/* A bounded set of message ids, oldest forgotten first. */
struct ablm_seen {
	char **ids;	/* ring of CAP slots */
	size_t cap, n, head;	/* head: the next slot to write */
};
void ablm_seen_init(struct ablm_seen *s, size_t cap);
void ablm_seen_free(struct ablm_seen *s);
int ablm_seen_has(const struct ablm_seen *s, const char *id);
void ablm_seen_add(struct ablm_seen *s, const char *id);
/* The ids oldest first, as a jv array; and loading them back (consumed). */
jv ablm_seen_jv(const struct ablm_seen *s);
void ablm_seen_load(struct ablm_seen *s, jv ids);

#endif
