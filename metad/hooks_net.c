/*
 * Where a webhook may be sent: its URL (http or https, with a host, parsed by libcurl's URL
 * parser) and the addresses it reaches. Loopback, link-local, private, shared (100.64/10),
 * unspecified and multicast addresses are local: a hook reaches them only when the application
 * setting allow_local_requests_from_web_hooks_and_services says so (GitLab's rule). A hook's URL
 * is checked when it is written (an address literal, or localhost), and at every delivery after
 * its host name is resolved, the connection then pinned to the address checked.
 */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "metad.h"
#include "util.h"

/* Whether an IPv4 address (host order) is local. */
static bool
v4_local(uint32_t a)
{
	return (a >> 24) == 0 || (a >> 24) == 10 || (a >> 24) == 127 ||
	       (a & 0xffff0000u) == 0xa9fe0000u || /* 169.254/16 */
	       (a & 0xfff00000u) == 0xac100000u || /* 172.16/12 */
	       (a & 0xffff0000u) == 0xc0a80000u || /* 192.168/16 */
	       (a & 0xffc00000u) == 0x64400000u || /* 100.64/10 */
	       (a >> 28) == 0xe || a == 0xffffffffu;
}

/* Whether an IPv6 address is local (an IPv4-mapped one as its IPv4 address). */
static bool
v6_local(const struct in6_addr *a)
{
	const uint8_t *b = a->s6_addr;
	static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	if (memcmp(b, mapped, 12) == 0)
		return v4_local((uint32_t)b[12] << 24 | (uint32_t)b[13] << 16 |
		                (uint32_t)b[14] << 8 | b[15]);
	return IN6_IS_ADDR_UNSPECIFIED(a) || IN6_IS_ADDR_LOOPBACK(a) || IN6_IS_ADDR_LINKLOCAL(a) ||
	       IN6_IS_ADDR_SITELOCAL(a) || IN6_IS_ADDR_MULTICAST(a) ||
	       (b[0] & 0xfe) == 0xfc; /* fc00::/7, unique local */
}

bool
hooks_addr_local(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return v4_local(
		        ntohl(((const struct sockaddr_in *)(const void *)sa)->sin_addr.s_addr));
	if (sa->sa_family == AF_INET6)
		return v6_local(&((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr);
	return true;
}

int
hooks_url_parse(const char *url, char **host, int *port)
{
	*host = NULL;
	if (url == NULL || *url == '\0' || strlen(url) > HOOKS_URL_MAX)
		return -1;
	for (const char *p = url; *p; p++)
		if ((unsigned char)*p <= ' ' || *p == 0x7f)
			return -1;
	CURLU *u = curl_url();
	char *scheme = NULL, *h = NULL, *portstr = NULL;
	int rc = -1;
	if (u != NULL && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
	    (strcmp(scheme, "http") == 0 || strcmp(scheme, "https") == 0) &&
	    curl_url_get(u, CURLUPART_HOST, &h, 0) == CURLUE_OK && *h != '\0' &&
	    curl_url_get(u, CURLUPART_PORT, &portstr, CURLU_DEFAULT_PORT) == CURLUE_OK) {
		size_t n = strlen(h);
		/* an IPv6 literal comes bracketed */
		if (h[0] == '[' && n > 2 && h[n - 1] == ']')
			*host = xasprintf("%.*s", (int)(n - 2), h + 1);
		else
			*host = xstrdup(h);
		*port = atoi(portstr);
		rc = *port > 0 && *port < 65536 ? 0 : -1;
		if (rc < 0) {
			free(*host);
			*host = NULL;
		}
	}
	curl_free(scheme);
	curl_free(h);
	curl_free(portstr);
	curl_url_cleanup(u);
	return rc;
}

bool
hooks_host_local(const char *host)
{
	struct in_addr a4;
	struct in6_addr a6;
	if (inet_pton(AF_INET, host, &a4) == 1)
		return v4_local(ntohl(a4.s_addr));
	if (inet_pton(AF_INET6, host, &a6) == 1)
		return v6_local(&a6);
	size_t n = strlen(host);
	const char *tail = ".localhost";
	size_t tn = strlen(tail);
	return strcasecmp(host, "localhost") == 0 || strcasecmp(host, "localhost.") == 0 ||
	       (n > tn && strcasecmp(host + n - tn, tail) == 0) || strchr(host, '%') != NULL;
}

char *
hooks_resolve(const char *host, int port, bool allow_local, char **why)
{
	struct addrinfo hints = { 0 }, *res = NULL;
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	char service[16];
	snprintf(service, sizeof(service), "%d", port);
	int e = getaddrinfo(host, service, &hints, &res);
	if (e != 0) {
		*why = xasprintf("cannot resolve %s: %s", host, gai_strerror(e));
		return NULL;
	}
	char addr[INET6_ADDRSTRLEN] = "";
	bool v6 = false;
	for (struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
		if (!allow_local && hooks_addr_local(ai->ai_addr)) {
			*why = xasprintf(
			        "%s resolves to a local address: requests to the local network "
			        "are not allowed",
			        host);
			freeaddrinfo(res);
			return NULL;
		}
		if (addr[0] == '\0' && ai->ai_family == AF_INET) {
			inet_ntop(AF_INET, &((struct sockaddr_in *)(void *)ai->ai_addr)->sin_addr,
			          addr, sizeof(addr));
		} else if (addr[0] == '\0' && ai->ai_family == AF_INET6) {
			inet_ntop(AF_INET6,
			          &((struct sockaddr_in6 *)(void *)ai->ai_addr)->sin6_addr, addr,
			          sizeof(addr));
			v6 = true;
		}
	}
	freeaddrinfo(res);
	if (addr[0] == '\0') {
		*why = xasprintf("%s has no address", host);
		return NULL;
	}
	return v6 ? xasprintf("%s:%d:[%s]", host, port, addr)
	          : xasprintf("%s:%d:%s", host, port, addr);
}
