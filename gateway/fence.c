/*
 * Read-your-writes across nodes without state of our own: the WAL position a client's last write
 * reached travels with the client, as the cookie GW_LSN_COOKIE. A write answer of authd or metad
 * carries the position (X-Registry-Lsn), which becomes the cookie; the cookie of a request to
 * authd or metad is forwarded as X-Registry-Read-Lsn, the position its reads must see
 * (common/pgread.h). A client that keeps no cookie still reads its writes: its reads are fenced
 * at the primary's current position.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway.h"
#include "lsn.h"
#include "util.h"
#include "wire.h"

/* Seconds the cookie is kept: longer than a replica may lag before it serves no read. */
#define GW_LSN_COOKIE_AGE 600

/* The furthest position the cookies of one Cookie header carry, into *best. */
static void
cookie_header_lsn(const char *v, uint64_t *best)
{
	size_t name_len = strlen(GW_LSN_COOKIE);
	while (*v != '\0') {
		v += strspn(v, " \t;");
		size_t len = strcspn(v, ";");
		if (len > name_len + 1 && strncmp(v, GW_LSN_COOKIE, name_len) == 0 &&
		    v[name_len] == '=' && len - name_len - 1 < LSN_TEXT_MAX) {
			char text[LSN_TEXT_MAX];
			memcpy(text, v + name_len + 1, len - name_len - 1);
			text[len - name_len - 1] = '\0';
			uint64_t lsn;
			if (lsn_parse(text, &lsn) && lsn > *best)
				*best = lsn;
		}
		v += len;
	}
}

uint64_t
gw_fence_of(struct http_txn *txn)
{
	const struct http_headers *h = &http_txn_request(txn)->headers;
	uint64_t best = 0;
	for (size_t i = 0; i < h->hd_count; i++)
		if (str_eq_nocase(h->hd_list[i].name, "Cookie"))
			cookie_header_lsn(h->hd_list[i].value, &best);
	return best;
}

void
gw_fence_forward(struct http_txn *txn, struct http_headers *out)
{
	uint64_t lsn = gw_fence_of(txn);
	char text[LSN_TEXT_MAX];
	if (lsn != 0)
		headers_set(out, WIRE_READ_LSN, lsn_format(lsn, text));
}

void
gw_fence_answer(struct http_txn *txn, const char *written, struct http_headers *out)
{
	uint64_t lsn, had = gw_fence_of(txn);
	if (!lsn_parse(written, &lsn))
		return;
	char text[LSN_TEXT_MAX];
	char *base = gw_external_url(txn);
	char *cookie =
	        xasprintf("%s=%s; Path=/; Max-Age=%d; HttpOnly; SameSite=Lax%s", GW_LSN_COOKIE,
	                  lsn_format(lsn > had ? lsn : had, text), GW_LSN_COOKIE_AGE,
	                  strncmp(base, "https:", 6) == 0 ? "; Secure" : "");
	headers_add(out, "Set-Cookie", cookie);
	free(cookie);
	free(base);
}
