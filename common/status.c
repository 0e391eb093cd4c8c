/* The status words' table (status.def). */
#include "status.h"

#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "log.h"
#include "util.h"

static const struct status_entry entries[] = {
#define STATUS(word, http, field, oci, text) { #word, http, field, oci, text },
#include "status.def"
#undef STATUS
};

const struct status_entry *
status_entry(enum status_word w)
{
	if (w < 0 || w >= STATUS_COUNT)
		fatal("no status word %d", (int)w);
	return &entries[w];
}

enum status_word
status_parse(const char *word)
{
	for (size_t i = 0; word != NULL && i < nitems(entries); i++)
		if (strcmp(entries[i].word, word) == 0)
			return (enum status_word)i;
	return STATUS_NONE;
}

char *
status_text(enum status_word w, const char *value)
{
	const char *t = status_entry(w)->text;
	if (t == NULL)
		return NULL;
	if (value == NULL)
		value = "";
	size_t n = 0, vlen = strlen(value);
	for (const char *p = t; *p; p++)
		n += p[0] == '%' && p[1] == 's' ? (p++, vlen) : 1;
	char *out = xmalloc(n + 1), *o = out;
	for (const char *p = t; *p; p++) {
		if (p[0] == '%' && p[1] == 's') {
			memcpy(o, value, vlen);
			o += vlen;
			p++;
		} else {
			*o++ = *p;
		}
	}
	*o = '\0';
	return out;
}
