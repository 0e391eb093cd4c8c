/*
 * Writes registry.conf(5): copies the page's text (registry.conf.5.in) to standard output and puts
 * the parameters of common/cfg.h where the line ".\" @PARAMETERS@" stands, one subsection per
 * section in the table's order: name, type, default, bounds, whether a reload applies, whether
 * it is a secret, the environment variable, and the help of its row. cfg.h stays the one home of
 * the parameters; this page cannot miss or invent one.
 */
#include <ctype.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "cfg.h"

struct row {
	const char *section, *name;
	enum cfg_type type;
	const char *def;
	int64_t min, max;
	bool reloadable, secret;
	const char *help;
};

static const struct row rows[] = {
#define CFG_MAN_ROW(id, sec, nm, ty, df, mn, mx, rl, sc, hl)                                       \
	{ sec, nm, ty, df, mn, mx, rl, sc, hl },
	CFG_PARAMS(CFG_MAN_ROW)
#undef CFG_MAN_ROW
};

/* Writes text for roff: backslashes as \e, hyphens as \-, and a line never starting with a
 * control character. */
static void
roff_text(const char *s, FILE *out)
{
	if (*s == '.' || *s == '\'')
		fputs("\\&", out);
	for (; *s; s++) {
		if (*s == '\\')
			fputs("\\e", out);
		else if (*s == '-')
			fputs("\\-", out);
		else
			fputc(*s, out);
	}
}

/* What a reader of the page needs of one parameter. */
static void
print_row(const struct row *r, FILE *out)
{
	static const char *const types[] = {
		[CFG_STR] = "string", [CFG_INT] = "integer", [CFG_BOOL] = "boolean"
	};
	fputs(".TP\n.B ", out);
	roff_text(r->name, out);
	fputs("\n", out);
	roff_text(r->help, out);
	fputs(".\n.br\n", out);
	fprintf(out, "Type: %s", types[r->type]);
	if (r->type == CFG_INT)
		fprintf(out, " from %" PRId64 " to %" PRId64, r->min, r->max);
	if (r->type == CFG_BOOL)
		fputs(" (true, false, yes, no, on, off, 1, 0)", out);
	fputs(". Default: ", out);
	if (*r->def) {
		fputs("\\(lq", out);
		roff_text(r->def, out);
		fputs("\\(rq", out);
	} else {
		fputs("empty", out);
	}
	fputs(r->reloadable ? ". A reload (SIGHUP) applies it" : ". Changing it needs a restart",
	      out);
	if (r->secret)
		fputs(". A secret: \\fB\\-n\\fP prints it masked", out);
	fputs(".\n.br\nEnvironment: \\fBREGISTRY_", out);
	for (const char *p = r->section; *p; p++)
		fputc(toupper((unsigned char)*p), out);
	fputc('_', out);
	for (const char *p = r->name; *p; p++)
		fputc(toupper((unsigned char)*p), out);
	fputs("\\fP\n", out);
}

/* The parameters, one subsection per section in the table's order. */
static void
print_parameters(FILE *out)
{
	const char *done[16];
	size_t ndone = 0;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		bool seen = false;
		for (size_t d = 0; d < ndone; d++)
			seen |= strcmp(done[d], rows[i].section) == 0;
		if (seen || ndone == sizeof(done) / sizeof(done[0]))
			continue;
		done[ndone++] = rows[i].section;
		fprintf(out, ".SS \"[%s]\"\n", rows[i].section);
		for (size_t j = i; j < sizeof(rows) / sizeof(rows[0]); j++)
			if (strcmp(rows[j].section, rows[i].section) == 0)
				print_row(&rows[j], out);
	}
}

int
main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s registry.conf.5.in > registry.conf.5\n", argv[0]);
		return 2;
	}
	FILE *in = fopen(argv[1], "r");
	if (in == NULL) {
		perror(argv[1]);
		return 1;
	}
	char line[4096];
	bool placed = false;
	while (fgets(line, sizeof(line), in) != NULL) {
		if (strcmp(line, ".\\\" @PARAMETERS@\n") == 0) {
			print_parameters(stdout);
			placed = true;
		} else {
			fputs(line, stdout);
		}
	}
	fclose(in);
	if (!placed) {
		fprintf(stderr, "%s: no \".\\\" @PARAMETERS@\" line\n", argv[1]);
		return 1;
	}
	return fflush(stdout) == 0 ? 0 : 1;
}
