/*
 * libFuzzer target of the configuration parser (common/cfg.c, libinih underneath): every
 * daemon's first read, and `-n`'s check of a file before a reload.
 *
 * Input: a configuration file (the seeds are deploy/registry.conf.example and the files the
 * test harness writes, and what -n printed of them). A file that loads has every value within
 * its row's bounds, and what cfg_print shows of it (each daemon's view) loads again to the same
 * values (secrets aside: they print masked); one that does not load has a short reason.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cfg.h"
#include "fuzz.h"
#include "util.h"

struct row {
	const char *section;
	enum cfg_type type;
	int64_t min, max;
	bool secret;
};

static const struct row rows[CFG_COUNT] = {
#define ROW(id, sec, nm, ty, df, mn, mx, rl, sc, hl) [CFG_##id] = { sec, ty, mn, mx, sc },
	CFG_PARAMS(ROW)
#undef ROW
};

static const char *const roles[] = { "gateway", "authd", "metad", "blobd" };

static char *path, *printed_path;
static struct cfg *defaults;

/* Writes len bytes to file p. */
static void
put_file(const char *p, const void *data, size_t len)
{
	FILE *f = fopen(p, "w");
	if (f == NULL || fwrite(data, 1, len, f) != len || fclose(f) != 0)
		fuzz_fail("cannot write %s", p);
}

/* Loads file p: the configuration, or NULL after checking the reason. */
static struct cfg *
load(const char *p)
{
	char *cause = NULL;
	struct cfg *cfg = cfg_load(p, &cause);
	if (cfg == NULL) {
		if (!fuzz_bounded(cause, 4096 + 1024))
			fuzz_fail("a refused file without a reason");
		free(cause);
	} else if (cause != NULL) {
		fuzz_fail("a reason for a file that loaded");
	}
	return cfg;
}

/* Every value within the bounds of its row. */
static void
check_values(const struct cfg *cfg)
{
	for (int i = 0; i < CFG_COUNT; i++) {
		if (cfg_str(cfg, i) == NULL)
			fuzz_fail("parameter %d has no value", i);
		int64_t v = cfg_int(cfg, i);
		if (rows[i].type == CFG_INT && (v < rows[i].min || v > rows[i].max))
			fuzz_fail("parameter %d is %lld, out of its bounds", i, (long long)v);
		if (rows[i].type == CFG_BOOL && v != 0 && v != 1)
			fuzz_fail("boolean parameter %d is %lld", i, (long long)v);
	}
}

/* What cfg_print shows for role loads again to the same values. */
static void
check_print(const struct cfg *cfg, const char *role)
{
	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);
	cfg_print(cfg, role, out);
	fclose(out);
	put_file(printed_path, text, len);
	struct cfg *again = load(printed_path);
	if (again == NULL)
		fuzz_fail("what cfg_print shows for %s does not load:\n%s", role, text);
	for (int i = 0; i < CFG_COUNT; i++) {
		/* A value that starts with ';' is shown as it is, and "name = ;x" reads back as a
		 * comment (inih's inline comments need the space that cfg_print writes). */
		if (rows[i].secret || cfg_str(cfg, i)[0] == ';' ||
		    (strcmp(rows[i].section, "global") != 0 && strcmp(rows[i].section, role) != 0))
			continue;
		if (strcmp(cfg_str(cfg, i), cfg_str(again, i)) != 0)
			fuzz_fail("parameter %d was \"%s\", printed and loaded again \"%s\"", i,
			          cfg_str(cfg, i), cfg_str(again, i));
	}
	cfg_free(again);
	free(text);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	path = xasprintf("%s/registry.conf", fuzz_dir());
	printed_path = xasprintf("%s/printed.conf", fuzz_dir());
	char *cause = NULL;
	defaults = cfg_load(NULL, &cause);
	if (defaults == NULL)
		fuzz_fail("the defaults do not load: %s", cause);
	/* The environment overrides files: none of ours may leak in. */
	for (char **e = environ; *e != NULL; e++)
		if (strncmp(*e, "REGISTRY_", 9) == 0)
			fuzz_fail("unset %.40s first", *e);
	(void)argc;
	(void)argv;
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	put_file(path, data, size);
	struct cfg *cfg = load(path);
	if (cfg == NULL)
		return 0;
	check_values(cfg);
	for (size_t i = 0; i < sizeof(roles) / sizeof(roles[0]); i++) {
		check_print(cfg, roles[i]);
		char *cause = NULL;
		if (cfg_check_reload(defaults, cfg, roles[i], &cause) < 0) {
			if (!fuzz_bounded(cause, 256))
				fuzz_fail("a reload refused without a reason");
			free(cause);
		}
		if (cfg_workers(cfg, roles[i]) < 1 || cfg_user(cfg, roles[i]) == NULL ||
		    cfg_database(cfg, roles[i]) == NULL)
			fuzz_fail("%s's workers, user or database", roles[i]);
	}
	cfg_free(cfg);
	return 0;
}
