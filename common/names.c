/* Name, tag, path and digest validation. */
#include "names.h"

#include <string.h>

#include "util.h"

/* The characters a repository name component may start and end with. */
static bool
is_lower_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* One name component: [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)* */
static bool
component_valid(const char *s, size_t len)
{
	if (len == 0 || !is_lower_alnum(s[0]) || !is_lower_alnum(s[len - 1]))
		return false;
	for (size_t i = 0; i < len; i++) {
		if (is_lower_alnum(s[i]))
			continue;
		/* a separator run: ".", "_", "__", or one or more "-" */
		size_t j = i;
		while (j < len && !is_lower_alnum(s[j]))
			j++;
		size_t run = j - i;
		const char *sep = s + i;
		bool ok = (run == 1 && (sep[0] == '.' || sep[0] == '_' || sep[0] == '-')) ||
		          (run == 2 && sep[0] == '_' && sep[1] == '_');
		if (!ok) {
			ok = true;
			for (size_t k = 0; k < run; k++)
				ok = ok && sep[k] == '-';
		}
		if (!ok)
			return false;
		i = j - 1;
	}
	return true;
}

bool
name_valid_repository(const char *name)
{
	size_t len = strlen(name);
	if (len == 0 || len > NAME_MAX_LEN)
		return false;
	const char *p = name;
	for (;;) {
		const char *slash = strchr(p, '/');
		size_t clen = slash ? (size_t)(slash - p) : strlen(p);
		if (!component_valid(p, clen))
			return false;
		if (slash == NULL)
			return true;
		p = slash + 1;
	}
}

bool
name_valid_tag(const char *tag)
{
	size_t len = strlen(tag);
	if (len == 0 || len > TAG_MAX_LEN)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = tag[i];
		bool word = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		            (c >= '0' && c <= '9') || c == '_';
		if (!word && (i == 0 || (c != '.' && c != '-')))
			return false;
	}
	return true;
}

bool
name_valid_path(const char *path)
{
	size_t len = strlen(path);
	if (len == 0 || len > 255)
		return false;
	char c0 = path[0];
	if (!((c0 >= 'a' && c0 <= 'z') || (c0 >= 'A' && c0 <= 'Z') || (c0 >= '0' && c0 <= '9') ||
	      c0 == '_'))
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = path[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-' || c == '.'))
			return false;
	}
	if (path[len - 1] == '.' || str_has_suffix(path, ".git") || str_has_suffix(path, ".atom"))
		return false;
	return true;
}

/* Whether a digest's hex part has exactly len lowercase hex digits, the only form we accept. */
static bool
all_lower_hex(const char *s, size_t len)
{
	if (strlen(s) != len)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

bool
name_split_digest(const char *digest, enum digest_algo *algo, const char **hex)
{
	if (strncmp(digest, "sha256:", 7) == 0 && all_lower_hex(digest + 7, 64)) {
		*algo = DIGEST_SHA256;
		*hex = digest + 7;
		return true;
	}
	if (strncmp(digest, "sha512:", 7) == 0 && all_lower_hex(digest + 7, 128)) {
		*algo = DIGEST_SHA512;
		*hex = digest + 7;
		return true;
	}
	return false;
}

bool
name_valid_digest(const char *digest)
{
	enum digest_algo a;
	const char *h;
	return name_split_digest(digest, &a, &h);
}

bool
name_well_formed_digest(const char *digest)
{
	/* algorithm ::= component ([+._-] component)*, component ::= [a-z0-9]+; encoded ::=
	 * [a-zA-Z0-9=_-]+ */
	const char *colon = strchr(digest, ':');
	if (colon == NULL || colon == digest || colon[1] == '\0')
		return false;
	for (const char *p = digest; p < colon; p++)
		if (!is_lower_alnum(*p) && strchr("+._-", *p) == NULL)
			return false;
	for (const char *p = colon + 1; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || strchr("=_-", *p) != NULL))
			return false;
	return true;
}
