/*
 * Which URL the client used: the configured external_url; else X-Forwarded-Proto/-Host from a
 * trusted proxy when the host is one of forwarded_hosts; else the Host header. Location and
 * realm URLs are built from it, so no header may name a host the operator did not list.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cfg.h"
#include "gateway.h"
#include "util.h"

struct cidr {
	int family;
	unsigned char addr[16];
	int bits;
};

static struct cidr *trusted; /* [gateway] trusted_proxies */
static size_t ntrusted;
static struct cidr *monitoring; /* [gateway] monitoring_allowlist */
static size_t nmonitoring;

/* Parses "10.0.0.1", "10.0.0.0/8", "::1" or "fd00::/8". */
static int
cidr_parse(const char *s, struct cidr *out)
{
	char buf[64];
	snprintf(buf, sizeof(buf), "%s", s);
	char *slash = strchr(buf, '/');
	if (slash != NULL)
		*slash = '\0';
	memset(out, 0, sizeof(*out));
	if (inet_pton(AF_INET, buf, out->addr) == 1) {
		out->family = AF_INET;
		out->bits = 32;
	} else if (inet_pton(AF_INET6, buf, out->addr) == 1) {
		out->family = AF_INET6;
		out->bits = 128;
	} else {
		return -1;
	}
	if (slash != NULL) {
		int64_t bits;
		if (str_to_i64(slash + 1, 0, out->bits, &bits) < 0)
			return -1;
		out->bits = (int)bits;
	}
	return 0;
}

/* Whether an address (of family) lies inside one trusted_proxies entry. */
static bool
cidr_contains(const struct cidr *c, int family, const unsigned char *addr)
{
	if (c->family != family)
		return false;
	int full = c->bits / 8, rest = c->bits % 8;
	if (memcmp(c->addr, addr, (size_t)full) != 0)
		return false;
	if (rest == 0)
		return true;
	unsigned char mask = (unsigned char)(0xff << (8 - rest));
	return (c->addr[full] & mask) == (addr[full] & mask);
}

/* Parses the comma-separated list of the parameter named param; into list/n when given. */
static int
parse_cidrs(const char *param, const char *spec, struct cidr **list, size_t *n, char **cause)
{
	char *copy = xstrdup(spec);
	char *save = NULL;
	int rc = 0;
	for (char *tok = strtok_r(copy, ", ", &save); tok != NULL;
	     tok = strtok_r(NULL, ", ", &save)) {
		struct cidr c;
		if (cidr_parse(tok, &c) < 0) {
			*cause = xasprintf("[gateway] %s: \"%s\" is not an address or CIDR", param,
			                   tok);
			rc = -1;
			break;
		}
		if (list != NULL) {
			*list = xrealloc(*list, (*n + 1) * sizeof(**list));
			(*list)[(*n)++] = c;
		}
	}
	free(copy);
	return rc;
}

/* A host[:port] that is safe to echo into a URL. */
static bool
host_is_valid(const char *h)
{
	size_t len = strlen(h);
	if (len == 0 || len > 255)
		return false;
	for (const char *p = h; *p; p++)
		if (!isalnum((unsigned char)*p) && strchr(".-:[]_", *p) == NULL)
			return false;
	return true;
}

/* Whether external_url can prefix the paths of Location and realm URLs: http(s), no trailing /. */
static bool
url_is_valid(const char *url)
{
	if (!str_has_prefix(url, "http://") && !str_has_prefix(url, "https://"))
		return false;
	return strchr(url, ' ') == NULL && !str_has_suffix(url, "/");
}

int
gw_check_config(const struct cfg *cfg, char **cause)
{
	const char *ext = cfg_str(cfg, CFG_GLOBAL_EXTERNAL_URL);
	if (*ext != '\0' && !url_is_valid(ext)) {
		*cause = xasprintf("[global] external_url must be http(s)://host[:port] without a "
		                   "trailing slash, not \"%s\"",
		                   ext);
		return -1;
	}
	const char *proxies = cfg_str(cfg, CFG_GATEWAY_TRUSTED_PROXIES);
	if (parse_cidrs("trusted_proxies", proxies, NULL, NULL, cause) < 0 ||
	    parse_cidrs("monitoring_allowlist", cfg_str(cfg, CFG_GATEWAY_MONITORING_ALLOWLIST),
	                NULL, NULL, cause) < 0)
		return -1;
	const char *hosts = cfg_str(cfg, CFG_GATEWAY_FORWARDED_HOSTS);
	char *copy = xstrdup(hosts), *save = NULL;
	int rc = 0;
	for (char *tok = strtok_r(copy, ", ", &save); tok != NULL && rc == 0;
	     tok = strtok_r(NULL, ", ", &save))
		if (!host_is_valid(tok)) {
			*cause = xasprintf("[gateway] forwarded_hosts: \"%s\" is not a host[:port]",
			                   tok);
			rc = -1;
		}
	free(copy);
	if (rc == 0 && proxies[strspn(proxies, ", ")] != '\0' && *ext == '\0' &&
	    hosts[strspn(hosts, ", ")] == '\0') {
		*cause = xstrdup("[gateway] trusted_proxies is set: set [global] external_url, or "
		                 "[gateway] forwarded_hosts to the host names clients use");
		rc = -1;
	}
	return rc;
}

void
gw_forwarded_init(const struct cfg *cfg)
{
	char *cause = NULL;
	free(trusted);
	free(monitoring);
	trusted = monitoring = NULL;
	ntrusted = nmonitoring = 0;
	/* validated at start and reload: cannot fail here */
	if (parse_cidrs("trusted_proxies", cfg_str(cfg, CFG_GATEWAY_TRUSTED_PROXIES), &trusted,
	                &ntrusted, &cause) < 0 ||
	    parse_cidrs("monitoring_allowlist", cfg_str(cfg, CFG_GATEWAY_MONITORING_ALLOWLIST),
	                &monitoring, &nmonitoring, &cause) < 0)
		free(cause);
}

/* Whether an address in text form lies inside one entry of list. */
static bool
addr_in(const char *text, const struct cidr *list, size_t n)
{
	unsigned char addr[16];
	int family;
	if (inet_pton(AF_INET, text, addr) == 1)
		family = AF_INET;
	else if (inet_pton(AF_INET6, text, addr) == 1)
		family = AF_INET6;
	else
		return false;
	for (size_t i = 0; i < n; i++)
		if (cidr_contains(&list[i], family, addr))
			return true;
	return false;
}

/* Whether a peer or X-Forwarded-For address is one of trusted_proxies, whose headers we believe. */
static bool
addr_trusted(const char *text)
{
	return addr_in(text, trusted, ntrusted);
}

bool
gw_from_trusted_proxy(struct http_txn *txn)
{
	return addr_trusted(http_txn_peer(txn));
}

bool
gw_monitoring_allowed(struct http_txn *txn)
{
	char *client = gw_client_addr(txn);
	bool ok = addr_in(client, monitoring, nmonitoring);
	free(client);
	return ok;
}

char *
gw_client_addr(struct http_txn *txn)
{
	const char *xff = headers_get(&http_txn_request(txn)->headers, "X-Forwarded-For");
	if (xff == NULL || !gw_from_trusted_proxy(txn))
		return xstrdup(http_txn_peer(txn));
	/* Walk from the right: each trusted hop vouches for the one before it. */
	char *copy = xstrdup(xff);
	char *result = NULL;
	for (;;) {
		char *comma = strrchr(copy, ',');
		char *item = comma ? comma + 1 : copy;
		while (*item == ' ')
			item++;
		char *end = item + strlen(item);
		while (end > item && end[-1] == ' ')
			*--end = '\0';
		unsigned char probe[16];
		bool is_addr = inet_pton(AF_INET, item, probe) == 1 ||
		               inet_pton(AF_INET6, item, probe) == 1;
		if (!is_addr)
			break; /* garbage: do not trust anything further left */
		if (!addr_trusted(item) || comma == NULL) {
			result = xstrdup(item);
			break;
		}
		*comma = '\0';
	}
	free(copy);
	return result ? result : xstrdup(http_txn_peer(txn));
}

/* Whether host is one of [gateway] forwarded_hosts (case-insensitive, port included). */
static bool
host_forwardable(const char *host)
{
	const char *list = cfg_str(gw.cfg, CFG_GATEWAY_FORWARDED_HOSTS);
	size_t len = strlen(host);
	for (const char *p = list; *p;) {
		p += strspn(p, ", ");
		size_t n = strcspn(p, ", ");
		if (n == len && strncasecmp(p, host, n) == 0)
			return true;
		p += n;
	}
	return false;
}

char *
gw_external_url(struct http_txn *txn)
{
	const struct http_headers *h = &http_txn_request(txn)->headers;
	const char *ext = cfg_str(gw.cfg, CFG_GLOBAL_EXTERNAL_URL);
	if (*ext != '\0')
		return xstrdup(
		        ext); /* the operator said where the registry is: no header overrides it */
	if (gw_from_trusted_proxy(txn)) {
		/* A proxy passes its client's Host on: only a listed host is believed, else the
		 * first listed one stands (gw_check_config makes sure there is one). */
		const char *proto = headers_get(h, "X-Forwarded-Proto");
		if (proto == NULL || (strcmp(proto, "http") != 0 && strcmp(proto, "https") != 0))
			proto = "http";
		const char *host = headers_get(h, "X-Forwarded-Host");
		if (host == NULL)
			host = headers_get(h, "Host");
		if (host != NULL && host_is_valid(host) && host_forwardable(host))
			return xasprintf("%s://%s", proto, host);
		const char *list = cfg_str(gw.cfg, CFG_GATEWAY_FORWARDED_HOSTS);
		list += strspn(list, ", ");
		return xasprintf("%s://%.*s", proto, (int)strcspn(list, ", "), list);
	}
	const char *host = headers_get(h, "Host");
	if (host != NULL && host_is_valid(host))
		return xasprintf("http://%s", host);
	return xasprintf("http://%s", cfg_str(gw.cfg, CFG_GATEWAY_LISTEN));
}
