/* Helpers every fuzz target shares: digests of runs, invariant failures, a private folder. */
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz.h"
#include "util.h"

static char *dir_path;

void
fuzz_digest_init(struct fuzz_digest *d)
{
	d->h = 14695981039346656037ULL;
}

void
fuzz_digest_add(struct fuzz_digest *d, const void *data, size_t len)
{
	const unsigned char *p = data;
	for (size_t i = 0; i < len; i++) {
		d->h ^= p[i];
		d->h *= 1099511628211ULL;
	}
}

void
fuzz_digest_str(struct fuzz_digest *d, const char *s)
{
	if (s == NULL)
		fuzz_digest_add(d, "\xff", 1);
	else
		fuzz_digest_add(d, s, strlen(s) + 1);
}

void
fuzz_digest_int(struct fuzz_digest *d, int64_t v)
{
	fuzz_digest_add(d, &v, sizeof(v));
}

void
fuzz_fail(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "fuzz invariant broken: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	abort();
}

bool
fuzz_bounded(const char *s, size_t max)
{
	return s != NULL && memchr(s, '\0', max + 1) != NULL;
}

/* Removes one file or (emptied) folder of the private folder. */
static int
remove_entry(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	remove(p);
	(void)st;
	(void)flag;
	(void)ftw;
	return 0;
}

/* Removes the private folder and whatever the targets left in it. */
static void
dir_remove(void)
{
	nftw(dir_path, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(dir_path);
}

const char *
fuzz_dir(void)
{
	if (dir_path == NULL) {
		char tmpl[] = "/tmp/registry-fuzz-XXXXXX";
		if (mkdtemp(tmpl) == NULL)
			fuzz_fail("cannot make a folder in /tmp");
		dir_path = xstrdup(tmpl);
		atexit(dir_remove);
	}
	return dir_path;
}

char *
fuzz_strndup(const uint8_t *data, size_t len)
{
	char *s = xmalloc(len + 1);
	memcpy(s, data, len);
	s[len] = '\0';
	return s;
}

bool
fuzz_take_line(const uint8_t **data, size_t *len, size_t max, char **line)
{
	const uint8_t *nl = memchr(*data, '\n', *len < max + 1 ? *len : max + 1);
	if (nl == NULL)
		return false;
	size_t n = (size_t)(nl - *data);
	*line = fuzz_strndup(*data, n);
	*data += n + 1;
	*len -= n + 1;
	return true;
}

size_t
fuzz_cuts(const uint8_t *data, size_t len, size_t *cuts, size_t max)
{
	size_t n = 0;
	for (size_t i = 0; i < max && i < len && len > 1; i++) {
		size_t at = 1 + (size_t)data[len - 1 - i] * (len - 1) / 256;
		if (n > 0 && at <= cuts[n - 1])
			continue;
		cuts[n++] = at;
	}
	return n;
}

const char *__asan_default_options(void);

/* ASan keeps 256 MiB of freed memory from reuse by default: a target that frees a few hundred
 * KiB per input then maps fresh memory for a thousand inputs, which costs more than the inputs.
 * A smaller quarantine still holds what a use after free of one input touches. */
const char *
__asan_default_options(void)
{
	return "quarantine_size_mb=16";
}
