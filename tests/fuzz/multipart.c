/*
 * libFuzzer target of the multipart/form-data parser (common/multipart.c).
 *
 * Input: a Content-Type value, a newline, then the body. The body is parsed twice, whole and in
 * chunks whose sizes the input's first bytes choose, and both runs must agree: the same result
 * and error, and on success the same parts and contents (a digest of what the callbacks saw).
 * A text field never exceeds its limit and no part hands over more bytes than the body held.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "multipart.h"

struct run {
	uint64_t digest; /* FNV-1a over the events, content bytes without their chunking */
	size_t content;  /* content bytes handed over */
	size_t field;    /* bytes of the current text field */
	int in_file;
};

static const struct mp_limits limits = { 16, 512, 256 };

/* Folds len bytes into the digest. */
static void
fold(struct run *r, const void *data, size_t len)
{
	const unsigned char *p = data;
	for (size_t i = 0; i < len; i++) {
		r->digest ^= p[i];
		r->digest *= 1099511628211ULL;
	}
}

/* Folds a string and its terminator (NULL as a lone 0xff). */
static void
fold_str(struct run *r, const char *s)
{
	if (s == NULL)
		fold(r, "\xff", 1);
	else
		fold(r, s, strlen(s) + 1);
}

/* A part starts: its name, filename and type go into the digest. */
static int
on_part(const struct mp_part *part, void *arg)
{
	struct run *r = arg;
	fold(r, "P", 1);
	fold_str(r, part->name);
	fold_str(r, part->filename);
	fold_str(r, part->content_type);
	r->in_file = part->filename != NULL;
	r->field = 0;
	return 0;
}

/* Content of the current part. */
static int
on_data(const char *data, size_t len, void *arg)
{
	struct run *r = arg;
	if (len == 0)
		abort();
	r->content += len;
	if (!r->in_file && (r->field += len) > limits.max_field)
		abort();
	fold(r, data, len);
	return 0;
}

/* A part ends. */
static int
on_part_end(void *arg)
{
	fold(arg, "E", 1);
	return 0;
}

static const struct mp_callbacks callbacks = { on_part, on_data, on_part_end };

/* Parses body in chunks cycling through the sizes in steps (none: at once). */
static int
parse(const char *boundary, const char *body, size_t len, const uint8_t *steps, size_t nsteps,
      struct run *r, enum mp_err *err)
{
	memset(r, 0, sizeof(*r));
	r->digest = 14695981039346656037ULL;
	struct mp_parser *p = mp_new(boundary, &limits, &callbacks, r);
	if (p == NULL)
		abort(); /* mp_boundary gave a boundary mp_new refuses */
	int rc = 0;
	for (size_t i = 0, k = 0; i < len && rc == 0; k++) {
		size_t n = nsteps == 0 ? len : 1 + steps[k % nsteps] % 64;
		if (n > len - i)
			n = len - i;
		rc = mp_feed(p, body + i, n);
		i += n;
	}
	if (rc == 0)
		rc = mp_finish(p);
	*err = mp_errcode(p);
	mp_free(p);
	return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nl = memchr(data, '\n', size);
	if (nl == NULL || nl - data > 200)
		return 0;
	char ctype[201];
	memcpy(ctype, data, (size_t)(nl - data));
	ctype[nl - data] = '\0';
	char boundary[MP_BOUNDARY_MAX + 1];
	if (mp_boundary(ctype, boundary) < 0)
		return 0;
	const char *body = (const char *)nl + 1;
	size_t len = size - (size_t)(nl - data) - 1;
	struct run whole, cut;
	enum mp_err e1, e2;
	int rc1 = parse(boundary, body, len, NULL, 0, &whole, &e1);
	size_t nsteps = size < 8 ? size : 8;
	int rc2 = parse(boundary, body, len, data + size - nsteps, nsteps, &cut, &e2);
	if (rc1 != rc2 || e1 != e2)
		abort();
	if (rc1 == 0 && (whole.digest != cut.digest || whole.content != cut.content))
		abort();
	if (whole.content > len || cut.content > len)
		abort();
	return 0;
}
