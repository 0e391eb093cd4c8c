/*
 * A streaming multipart/form-data parser (see multipart.h).
 *
 * The body is one state machine. Delimiters ("\r\n--" boundary) are found with a running match
 * count, so one may be cut anywhere between two chunks: the bytes of a partial match are known
 * (they are the delimiter's first bytes), so nothing of the chunk is kept, and when the match
 * fails they are handed over as content from the delimiter itself. A failed match never hides
 * the start of another: the delimiter's only CR is its first byte and a boundary holds no CR,
 * so after a mismatch only the current byte can start a new match.
 */
#include "multipart.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util.h"

enum mp_state {
	MP_PREAMBLE,   /* before the first delimiter: ignored */
	MP_AFTER,      /* just after a delimiter: "--" closes the body, else padding and CRLF */
	MP_AFTER_DASH, /* one '-' after a delimiter */
	MP_PADDING,    /* spaces or tabs after a delimiter, then CRLF */
	MP_PADDING_CR, /* the CR of that CRLF */
	MP_HEADERS,    /* a part's header block, up to its blank line */
	MP_BODY,       /* a part's content, up to the next delimiter */
	MP_EPILOGUE,   /* after the closing delimiter: ignored */
	MP_FAILED,
};

struct mp_parser {
	enum mp_state state;
	char delim[4 + MP_BOUNDARY_MAX + 1]; /* "\r\n--" boundary */
	size_t dlen;
	size_t match; /* delimiter bytes matched so far */
	struct mp_limits lim;
	struct mp_callbacks cb;
	void *arg;
	char *hdr; /* the header block being read */
	size_t hlen;
	size_t parts;
	bool in_file;     /* the current part has a filename */
	size_t field_len; /* content bytes of the current text part */
	enum mp_err err;
	const char *why;
};

/* ---- Content-Type and Content-Disposition values ----------------------------------------------
 */

/* RFC 2045 tspecials: what ends a token. */
static bool
is_tspecial(char c)
{
	return strchr("()<>@,;:\\\"/[]?=", c) != NULL;
}

/* Whether c may be part of an unquoted value (a token), as RFC 2045 defines it. */
static bool
is_token_char(char c)
{
	return (unsigned char)c > 0x20 && (unsigned char)c < 0x7f && !is_tspecial(c);
}

/* s past its spaces and tabs. */
static const char *
skip_space(const char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	return s;
}

/* Reads a token at *s into a new string and moves *s past it; NULL when there is none. */
static char *
read_token(const char **s)
{
	const char *start = *s, *e = start;
	while (*e != '\0' && is_token_char(*e))
		e++;
	if (e == start)
		return NULL;
	*s = e;
	return xstrndup(start, (size_t)(e - start));
}

/* Reads a quoted-string at *s (RFC 822: backslash escapes one character) into a new string and
 * moves *s past it; NULL when it is not one. */
static char *
read_quoted(const char **s)
{
	const char *p = *s;
	if (*p != '"')
		return NULL;
	char *out = xmalloc(strlen(p) + 1);
	size_t o = 0;
	for (p++; *p != '"'; p++) {
		if (*p == '\\' && p[1] != '\0')
			p++;
		if (*p == '\0') {
			free(out);
			return NULL;
		}
		out[o++] = *p;
	}
	out[o] = '\0';
	*s = p + 1;
	return out;
}

/* Reads the next "; name=value" of a header value at *s into *name (lowercased) and *value;
 * 0 when read, 1 at the end of the value, -1 when it is malformed. */
static int
next_param(const char **s, char **name, char **value)
{
	const char *p = skip_space(*s);
	if (*p == '\0')
		return 1;
	if (*p != ';')
		return -1;
	p = skip_space(p + 1);
	if (*p == '\0')
		return 1; /* a trailing ';' */
	*name = read_token(&p);
	if (*name == NULL)
		return -1;
	for (char *c = *name; *c; c++)
		if (*c >= 'A' && *c <= 'Z')
			*c = (char)(*c - 'A' + 'a');
	p = skip_space(p);
	if (*p != '=') {
		free(*name);
		return -1;
	}
	p = skip_space(p + 1);
	*value = *p == '"' ? read_quoted(&p) : read_token(&p);
	if (*value == NULL) {
		free(*name);
		return -1;
	}
	*s = p;
	return 0;
}

/* Checks that a value starts with type (case-insensitive) as a whole token; moves *s past it. */
static bool
take_type(const char **s, const char *type)
{
	const char *p = skip_space(*s);
	size_t n = strlen(type);
	if (strncasecmp(p, type, n) != 0 || is_token_char(p[n]) || p[n] == '/')
		return false;
	*s = p + n;
	return true;
}

/* Whether b is a boundary RFC 2046 allows: 1 to 70 of its bchars, not ending in a space. */
static bool
boundary_valid(const char *b)
{
	size_t n = strlen(b);
	if (n == 0 || n > MP_BOUNDARY_MAX || b[n - 1] == ' ')
		return false;
	for (const char *c = b; *c; c++) {
		bool alnum = (*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'z') ||
		             (*c >= 'A' && *c <= 'Z');
		if (!alnum && strchr("'()+_,-./:=? ", *c) == NULL)
			return false;
	}
	return true;
}

int
mp_boundary(const char *content_type, char *out)
{
	const char *s = content_type;
	if (s == NULL || !take_type(&s, "multipart/form-data"))
		return -1;
	char *name, *value;
	int rc, found = -1;
	while ((rc = next_param(&s, &name, &value)) == 0) {
		if (strcmp(name, "boundary") == 0 && found < 0 && boundary_valid(value)) {
			memcpy(out, value, strlen(value) + 1);
			found = 0;
		} else if (strcmp(name, "boundary") == 0) {
			found = -2; /* invalid, or given twice */
		}
		free(name);
		free(value);
	}
	return rc < 0 || found < 0 ? -1 : 0;
}

/* ---- the parser ---------------------------------------------------------------------------------
 */

/* Refuses the body: every later call fails. */
static int
fail(struct mp_parser *p, enum mp_err err, const char *why)
{
	p->state = MP_FAILED;
	p->err = err;
	p->why = why;
	return -1;
}

struct mp_parser *
mp_new(const char *boundary, const struct mp_limits *limits, const struct mp_callbacks *cb,
       void *arg)
{
	size_t blen = strlen(boundary);
	if (blen == 0 || blen > MP_BOUNDARY_MAX)
		return NULL;
	struct mp_parser *p = xcalloc(1, sizeof(*p));
	memcpy(p->delim, "\r\n--", 4);
	memcpy(p->delim + 4, boundary, blen + 1);
	p->dlen = 4 + blen;
	/* The body may open with the delimiter: as if its CRLF had been seen. */
	p->match = 2;
	p->state = MP_PREAMBLE;
	p->lim = *limits;
	p->cb = *cb;
	p->arg = arg;
	p->hdr = xmalloc(limits->max_header + 1);
	p->why = "";
	return p;
}

void
mp_free(struct mp_parser *p)
{
	if (p == NULL)
		return;
	free(p->hdr);
	free(p);
}

enum mp_err
mp_errcode(const struct mp_parser *p)
{
	return p->err;
}

const char *
mp_error(const struct mp_parser *p)
{
	return p->why;
}

/* Hands content of the current part to the caller (nothing in the preamble). */
static int
emit(struct mp_parser *p, const char *data, size_t len)
{
	if (len == 0 || p->state != MP_BODY)
		return 0;
	if (!p->in_file) {
		if (len > p->lim.max_field - p->field_len)
			return fail(p, MP_ERR_LIMIT, "a field is too large");
		p->field_len += len;
	}
	if (p->cb.on_data != NULL && p->cb.on_data(data, len, p->arg) != 0)
		return fail(p, MP_ERR_CALLBACK, "stopped");
	return 0;
}

/* Looks for the delimiter in len bytes of d, handing over content before it; *used gets the
 * bytes consumed (up to the delimiter's end when found). 1 when found, 0 when not yet, -1 on
 * error. */
static int
scan(struct mp_parser *p, const char *d, size_t len, size_t *used)
{
	size_t carried = p->match; /* matched in earlier chunks, still unsure */
	size_t i = 0;
	bool found = false;
	while (i < len) {
		if (p->match == 0) {
			const char *cr = memchr(d + i, '\r', len - i);
			if (cr == NULL) {
				i = len;
				break;
			}
			i = (size_t)(cr - d) + 1;
			p->match = 1;
		} else if (d[i] == p->delim[p->match]) {
			i++;
			if (++p->match == p->dlen) {
				found = true;
				break;
			}
		} else {
			/* Not the delimiter: what matched was content, and d[i] is tried afresh.
			 * The bytes matched in this chunk are already part of its content span. */
			if (carried > 0 && emit(p, p->delim, carried) < 0)
				return -1;
			carried = 0;
			p->match = 0;
		}
	}
	*used = i;
	if (found) {
		p->match = 0;
		return emit(p, d, i - (p->dlen - carried)) < 0 ? -1 : 1;
	}
	/* the chunk's own bytes of a partial match wait for the next one */
	size_t pending = p->match > carried ? p->match - carried : 0;
	return emit(p, d, len - pending) < 0 ? -1 : 0;
}

/* The header block is in (its blank line included): reads the part's name, filename and type,
 * and starts it. */
static int
start_part(struct mp_parser *p)
{
	p->hdr[p->hlen] = '\0';
	if (++p->parts > p->lim.max_parts)
		return fail(p, MP_ERR_LIMIT, "too many parts");
	char *name = NULL, *filename = NULL, *ext_filename = NULL, *ctype = NULL;
	bool disposition = false;
	const char *why = NULL;
	for (char *line = p->hdr; *line != '\0' && why == NULL;) {
		char *eol = strstr(line, "\r\n"); /* header_byte let no lone CR or LF in */
		*eol = '\0';
		char *next = eol + 2;
		if (*line == '\0')
			break; /* the blank line */
		char *colon = strchr(line, ':');
		if (colon == NULL || colon == line) {
			why = "a part header is malformed";
			break;
		}
		*colon = '\0';
		const char *v = skip_space(colon + 1);
		if (strcasecmp(line, "Content-Disposition") == 0) {
			if (disposition || !take_type(&v, "form-data")) {
				why = "a part's Content-Disposition is not form-data";
				break;
			}
			disposition = true;
			char *k, *val;
			int rc;
			while ((rc = next_param(&v, &k, &val)) == 0) {
				char **slot = strcmp(k, "name") == 0        ? &name
				              : strcmp(k, "filename") == 0  ? &filename
				              : strcmp(k, "filename*") == 0 ? &ext_filename
				                                            : NULL;
				if (slot != NULL && *slot != NULL)
					why = "a part's Content-Disposition repeats a parameter";
				else if (slot != NULL)
					*slot = xstrdup(val);
				free(k);
				free(val);
			}
			if (rc < 0)
				why = "a part's Content-Disposition is malformed";
		} else if (strcasecmp(line, "Content-Type") == 0) {
			free(ctype);
			ctype = xstrdup(v);
		}
		line = next;
	}
	if (filename == NULL) {
		/* RFC 7578 forbids filename* but a client may send it alone */
		filename = ext_filename;
		ext_filename = NULL;
	}
	if (why == NULL && name == NULL)
		why = "a part has no name";
	int rc = 0;
	if (why != NULL) {
		rc = fail(p, MP_ERR_SYNTAX, why);
	} else {
		struct mp_part part = { name, filename, ctype };
		p->in_file = filename != NULL;
		p->field_len = 0;
		p->state = MP_BODY;
		if (p->cb.on_part != NULL && p->cb.on_part(&part, p->arg) != 0)
			rc = fail(p, MP_ERR_CALLBACK, "stopped");
	}
	free(name);
	free(filename);
	free(ext_filename);
	free(ctype);
	return rc;
}

/* Takes one byte of a header block; starts the part at its blank line. */
static int
header_byte(struct mp_parser *p, char c)
{
	if (p->hlen >= p->lim.max_header)
		return fail(p, MP_ERR_LIMIT, "a part's headers are too large");
	if (c == '\0' || (c == '\n' && (p->hlen == 0 || p->hdr[p->hlen - 1] != '\r')) ||
	    (p->hlen > 0 && p->hdr[p->hlen - 1] == '\r' && c != '\n'))
		return fail(p, MP_ERR_SYNTAX, "a part header is malformed");
	p->hdr[p->hlen++] = c;
	bool blank = (p->hlen == 2 && memcmp(p->hdr, "\r\n", 2) == 0) ||
	             (p->hlen >= 4 && memcmp(p->hdr + p->hlen - 4, "\r\n\r\n", 4) == 0);
	return blank ? start_part(p) : 0;
}

/* Takes one byte after a delimiter: the closing "--", or transport padding and CRLF. */
static int
after_byte(struct mp_parser *p, char c)
{
	switch (p->state) {
	case MP_AFTER:
		if (c == '-') {
			p->state = MP_AFTER_DASH;
			return 0;
		}
		/* FALLTHROUGH */
	case MP_PADDING:
		if (c == ' ' || c == '\t') {
			p->state = MP_PADDING;
			return 0;
		}
		if (c == '\r') {
			p->state = MP_PADDING_CR;
			return 0;
		}
		return fail(p, MP_ERR_SYNTAX, "a boundary is followed by something else");
	case MP_AFTER_DASH:
		if (c != '-')
			return fail(p, MP_ERR_SYNTAX, "a boundary is followed by something else");
		p->state = MP_EPILOGUE;
		return 0;
	case MP_PADDING_CR:
		if (c != '\n')
			return fail(p, MP_ERR_SYNTAX, "a boundary is followed by something else");
		p->state = MP_HEADERS;
		p->hlen = 0;
		return 0;
	default:
		return fail(p, MP_ERR_SYNTAX, "unreachable state");
	}
}

int
mp_feed(struct mp_parser *p, const char *data, size_t len)
{
	size_t i = 0;
	while (i < len) {
		size_t used;
		int rc;
		switch (p->state) {
		case MP_PREAMBLE:
		case MP_BODY:
			rc = scan(p, data + i, len - i, &used);
			if (rc < 0)
				return -1;
			i += used;
			if (rc == 1) {
				if (p->state == MP_BODY && p->cb.on_part_end != NULL &&
				    p->cb.on_part_end(p->arg) != 0)
					return fail(p, MP_ERR_CALLBACK, "stopped");
				p->state = MP_AFTER;
			}
			break;
		case MP_AFTER:
		case MP_AFTER_DASH:
		case MP_PADDING:
		case MP_PADDING_CR:
			if (after_byte(p, data[i++]) < 0)
				return -1;
			break;
		case MP_HEADERS:
			if (header_byte(p, data[i++]) < 0)
				return -1;
			break;
		case MP_EPILOGUE:
			return 0;
		case MP_FAILED:
			return -1;
		default:
			return fail(p, MP_ERR_SYNTAX, "unreachable state");
		}
	}
	return p->state == MP_FAILED ? -1 : 0;
}

int
mp_finish(struct mp_parser *p)
{
	if (p->state == MP_EPILOGUE)
		return 0;
	if (p->state == MP_FAILED)
		return -1;
	return fail(p, MP_ERR_SYNTAX, "the body ends before its closing boundary");
}
