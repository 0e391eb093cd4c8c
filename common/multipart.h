/*
 * multipart/form-data (RFC 7578 over RFC 2046), parsed as it streams: the parser is fed the body
 * in chunks of any size and calls back for each part's start (its name, filename and type), for
 * its content, and for its end. Content is handed over as pointers into the chunk being fed, so
 * a file part is never copied; only a part's header block is kept (bounded). Limits bound the
 * number of parts, the size of a header block and the size of a part without a filename (a text
 * field). Bytes before the first boundary (the preamble) and after the last (the epilogue) are
 * ignored, as RFC 2046 says.
 */
#ifndef REGISTRY_MULTIPART_H
#define REGISTRY_MULTIPART_H

#include <stdbool.h>
#include <stddef.h>

/* RFC 2046: a boundary is 1 to 70 characters. */
#define MP_BOUNDARY_MAX 70

struct mp_limits {
	size_t max_parts;  /* parts in one body */
	size_t max_header; /* bytes of one part's header block, the blank line included */
	size_t max_field;  /* content bytes of a part without a filename */
};

struct mp_part {
	const char *name;         /* the Content-Disposition name (may be "") */
	const char *filename;     /* NULL for a text field */
	const char *content_type; /* NULL when the part has none */
};

/* Each callback returns 0 to go on, or non-zero to stop the parser (MP_ERR_CALLBACK). */
struct mp_callbacks {
	int (*on_part)(const struct mp_part *part, void *arg); /* valid during the call */
	int (*on_data)(const char *data, size_t len, void *arg);
	int (*on_part_end)(void *arg);
};

enum mp_err {
	MP_OK,
	MP_ERR_SYNTAX,   /* not a well-formed multipart body */
	MP_ERR_LIMIT,    /* a limit was passed */
	MP_ERR_CALLBACK, /* a callback stopped the parser */
};

struct mp_parser;

/* The boundary of a Content-Type "multipart/form-data; boundary=..." (quoted or not) into out
 * (at least MP_BOUNDARY_MAX + 1 bytes); -1 when the type is another one or the boundary is
 * missing or not one RFC 2046 allows. */
int mp_boundary(const char *content_type, char *out);
/* A parser for a body with boundary (from mp_boundary). */
struct mp_parser *mp_new(const char *boundary, const struct mp_limits *limits,
                         const struct mp_callbacks *cb, void *arg);
/* Feeds len more bytes; -1 once the body is refused (mp_errcode and mp_error say why; every
 * later call fails too). */
int mp_feed(struct mp_parser *p, const char *data, size_t len);
/* The body ended: -1 unless its closing boundary was seen. */
int mp_finish(struct mp_parser *p);
enum mp_err mp_errcode(const struct mp_parser *p);
/* Why the body was refused, in a few words; "" while it was not. */
const char *mp_error(const struct mp_parser *p);
void mp_free(struct mp_parser *p);

#endif
