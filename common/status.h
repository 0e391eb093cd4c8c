/*
 * The status words the database's write functions answer (the PostgreSQL enum status_word), and
 * what each one tells a client: one table, status.def. The REST layer answers a word with it
 * (rest_status_answer, rest_db.h).
 */
#ifndef REGISTRY_STATUS_H
#define REGISTRY_STATUS_H

enum status_word {
	STATUS_NONE = -1, /* no word: the query failed, or it named an unknown one */
#define STATUS(word, http, field, oci, text) STATUS_##word,
#include "status.def"
#undef STATUS
	STATUS_COUNT
};

struct status_entry {
	const char *word;  /* as PostgreSQL names it */
	int http;          /* the answer's status */
	const char *field; /* GitLab's model field the text is about, or NULL */
	const char *oci;   /* the OCI error code of a /v2 word, or NULL */
	const char *text;  /* GitLab's message, or the OCI detail; "%s": a value */
};

/* The table's row of a word (w a word, not STATUS_NONE). */
const struct status_entry *status_entry(enum status_word w);
/* The word a result names ("ok", ...); STATUS_NONE for NULL or an unknown word. */
enum status_word status_parse(const char *word);
/* A word's text with each "%s" replaced by value (NULL: ""); NULL for a word without text.
 * Caller frees. */
char *status_text(enum status_word w, const char *value);

#endif
