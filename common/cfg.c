/* Configuration table, INI parsing (libinih), environment overrides and validation. */
#include "cfg.h"

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "notify_cfg.h"
#include "util.h"

struct cfg_param {
	const char *section;
	const char *name;
	enum cfg_type type;
	const char *def;
	int64_t min, max;
	bool reloadable;
	bool secret;
	const char *help;
};

static const struct cfg_param cfg_params[CFG_COUNT] = {
#define CFG_ROW(id, sec, nm, ty, df, mn, mx, rl, sc, hl)                                           \
	[CFG_##id] = { sec, nm, ty, df, mn, mx, rl, sc, hl },
	CFG_PARAMS(CFG_ROW)
#undef CFG_ROW
};

static const char *const cfg_sections[] = { "global", "gateway", "authd", "metad", "blobd", "gc" };

/* The longest line inih reads whole (its buffer, less the string's end). */
#define CFG_LINE_MAX (INI_MAX_LINE - 1)

/* Characters of text on one comment line that cfg_print writes (plus "; "). */
#define CFG_COMMENT_WIDTH 96

struct cfg {
	char *path;
	char *values[CFG_COUNT];
	int64_t ints[CFG_COUNT];
	bool in_file[CFG_COUNT]; /* set by a line of the file already */
	json_object *notify;     /* the [notifications.<name>] endpoints (notify_cfg.h), or NULL */
	char *error;
};

static int cfg_find(const char *section, const char *name);
static int cfg_set(struct cfg *cfg, int id, const char *value, const char *origin);
static int ini_cb(void *user, const char *section, const char *name, const char *value);

/* The row of a parameter in the table, by section and name; -1 when there is none. */
static int
cfg_find(const char *section, const char *name)
{
	for (int i = 0; i < CFG_COUNT; i++)
		if (strcmp(cfg_params[i].section, section) == 0 &&
		    strcmp(cfg_params[i].name, name) == 0)
			return i;
	return -1;
}

/* Reads the spellings of true and false a config file or environment may use; false if none. */
static bool
parse_bool(const char *v, bool *out)
{
	static const char *const yes[] = { "1", "true", "yes", "on" };
	static const char *const no[] = { "0", "false", "no", "off" };
	for (size_t i = 0; i < nitems(yes); i++) {
		if (str_eq_nocase(v, yes[i])) {
			*out = true;
			return true;
		}
		if (str_eq_nocase(v, no[i])) {
			*out = false;
			return true;
		}
	}
	return false;
}

/* Validates and stores one value; origin names where it came from for the error message. */
static int
cfg_set(struct cfg *cfg, int id, const char *value, const char *origin)
{
	const struct cfg_param *p = &cfg_params[id];
	switch (p->type) {
	case CFG_INT: {
		int64_t v;
		if (str_to_i64(value, p->min, p->max, &v) < 0) {
			cfg->error = xasprintf(
			        "%s: [%s] %s must be an integer in %lld..%lld, not \"%s\"", origin,
			        p->section, p->name, (long long)p->min, (long long)p->max, value);
			return -1;
		}
		cfg->ints[id] = v;
		break;
	}
	case CFG_BOOL: {
		bool b;
		if (!parse_bool(value, &b)) {
			cfg->error = xasprintf("%s: [%s] %s must be true or false, not \"%s\"",
			                       origin, p->section, p->name, value);
			return -1;
		}
		cfg->ints[id] = b;
		break;
	}
	case CFG_STR:
		if (id == CFG_GLOBAL_LOG_LEVEL && log_parse_level(value) < 0) {
			cfg->error =
			        xasprintf("%s: [global] log_level must be debug, info, warn or "
			                  "error, not \"%s\"",
			                  origin, value);
			return -1;
		}
		if (id == CFG_GLOBAL_LOG_FORMAT && log_parse_format(value) < 0) {
			cfg->error = xasprintf(
			        "%s: [global] log_format must be text or json, not \"%s\"", origin,
			        value);
			return -1;
		}
		if (id == CFG_BLOBD_STORAGE && strcmp(value, "filesystem") != 0 &&
		    strcmp(value, "s3") != 0) {
			cfg->error = xasprintf(
			        "%s: [blobd] storage must be filesystem or s3, not \"%s\"", origin,
			        value);
			return -1;
		}
		if (id == CFG_BLOBD_COMPRESSION && strcmp(value, "zstd") != 0 &&
		    strcmp(value, "none") != 0) {
			cfg->error = xasprintf(
			        "%s: [blobd] compression must be zstd or none, not \"%s\"", origin,
			        value);
			return -1;
		}
		break;
	}
	free(cfg->values[id]);
	cfg->values[id] = xstrdup(value);
	return 0;
}

/* Takes one "name = value" line from inih; an unknown section or name is an error, not ignored. */
static int
ini_cb(void *user, const char *section, const char *name, const char *value)
{
	struct cfg *cfg = user;
	if (cfg->error != NULL)
		return 0;
	if (*section == '\0') {
		/* also what follows a malformed "[section" line, which inih reports only later */
		cfg->error = xasprintf("%s: \"%s\" is outside any [section] (or under a malformed "
		                       "section header)",
		                       cfg->path, name);
		return 0;
	}
	if (strncmp(section, NOTIFY_CFG_PREFIX, strlen(NOTIFY_CFG_PREFIX)) == 0) {
		char *why = NULL;
		if (notify_cfg_set(&cfg->notify, section + strlen(NOTIFY_CFG_PREFIX), name, value,
		                   &why) < 0) {
			cfg->error = xasprintf("%s: %s", cfg->path, why);
			free(why);
			return 0;
		}
		return 1;
	}
	bool known_section = false;
	for (size_t i = 0; i < nitems(cfg_sections); i++)
		if (strcmp(section, cfg_sections[i]) == 0)
			known_section = true;
	if (!known_section) {
		cfg->error = xasprintf("%s: unknown section [%s]", cfg->path, section);
		return 0;
	}
	int id = cfg_find(section, name);
	if (id < 0) {
		cfg->error =
		        xasprintf("%s: unknown parameter \"%s\" in [%s]", cfg->path, name, section);
		return 0;
	}
	/* inih also hands over a line that starts with a space as a second value of the name
	 * above it: one value per name, so both that and a repeated line are refused. */
	if (cfg->in_file[id]) {
		cfg->error = xasprintf("%s: \"%s\" in [%s] is set twice (or continued by a line "
		                       "that starts with a space)",
		                       cfg->path, name, section);
		return 0;
	}
	cfg->in_file[id] = true;
	/* What cfg_print writes ("name = value") must load again whole. */
	if (strlen(name) + 3 + strlen(value) > CFG_LINE_MAX) {
		cfg->error = xasprintf("%s: the value of \"%s\" in [%s] is too long (a line "
		                       "\"name = value\" has at most %d characters)",
		                       cfg->path, name, section, CFG_LINE_MAX);
		return 0;
	}
	return cfg_set(cfg, id, value, cfg->path) == 0;
}

/* The rules between [blobd]'s storage parameters; -1 with cfg->error. */
static int
cfg_check_storage(struct cfg *cfg)
{
	bool s3 = strcmp(cfg->values[CFG_BLOBD_STORAGE], "s3") == 0;
	if (!s3 && cfg->ints[CFG_BLOBD_REDIRECT]) {
		cfg->error = xasprintf("%s: [blobd] redirect = true needs storage = s3 (a file has "
		                       "no URL of its own)",
		                       cfg->path);
		return -1;
	}
	if (cfg->ints[CFG_BLOBD_REDIRECT] &&
	    strcmp(cfg->values[CFG_BLOBD_COMPRESSION], "zstd") == 0) {
		cfg->error =
		        xasprintf("%s: [blobd] redirect = true needs compression = none (a URL "
		                  "of a compressed object would give its compressed bytes)",
		                  cfg->path);
		return -1;
	}
	return 0;
}

/* The file cfg_load reads, line by line for inih, and where a line was too long for it. */
struct cfg_reader {
	FILE *f;
	int line;
	bool too_long;
};

/* inih's line reader: fgets, except that a line longer than inih's buffer stops the parse (inih
 * would cut it and read its rest as another line, so a long value would load shortened). */
static char *
cfg_read_line(char *str, int num, void *stream)
{
	struct cfg_reader *r = stream;
	if (fgets(str, num, r->f) == NULL)
		return NULL;
	r->line++;
	size_t len = strlen(str);
	if (len == (size_t)num - 1 && str[len - 1] != '\n') {
		int c = getc(r->f); /* the line's end, or more of it */
		if (c != EOF && c != '\n') {
			r->too_long = true;
			return NULL;
		}
	}
	return str;
}

/* Reads file path into cfg through ini_cb; -1 with cfg->error set on failure. */
static int
cfg_parse_file(struct cfg *cfg, const char *path)
{
	struct cfg_reader r = { .f = fopen(path, "r") };
	if (r.f == NULL) {
		cfg->error = xasprintf("%s: cannot open: %s", path, strerror(errno));
		return -1;
	}
	int rc = ini_parse_stream(cfg_read_line, &r, ini_cb, cfg);
	fclose(r.f);
	if (cfg->error != NULL)
		return -1;
	if (r.too_long) {
		cfg->error = xasprintf("%s:%d: line longer than %d characters", path, r.line,
		                       CFG_LINE_MAX);
		return -1;
	}
	if (rc != 0) {
		cfg->error = xasprintf("%s:%d: syntax error", path, rc);
		return -1;
	}
	return 0;
}

struct cfg *
cfg_load(const char *path, char **cause)
{
	struct cfg *cfg = xcalloc(1, sizeof(*cfg));
	cfg->path = xstrdup(path ? path : "(defaults)");
	for (int i = 0; i < CFG_COUNT; i++)
		if (cfg_set(cfg, i, cfg_params[i].def, "default") < 0)
			goto fail;
	if (path != NULL && cfg_parse_file(cfg, path) < 0)
		goto fail;
	for (int i = 0; i < CFG_COUNT; i++) {
		char env[128];
		snprintf(env, sizeof(env), "REGISTRY_%s_%s", cfg_params[i].section,
		         cfg_params[i].name);
		for (char *c = env; *c; c++)
			*c = (char)toupper((unsigned char)*c);
		const char *v = getenv(env);
		if (v != NULL && cfg_set(cfg, i, v, env) < 0)
			goto fail;
	}
	if (cfg_check_storage(cfg) < 0)
		goto fail;
	char *why = NULL;
	if (notify_cfg_finish(cfg->notify, &why) < 0) {
		cfg->error = xasprintf("%s: %s", cfg->path, why);
		free(why);
		goto fail;
	}
	return cfg;
fail:
	*cause = cfg->error;
	cfg->error = NULL;
	cfg_free(cfg);
	return NULL;
}

void
cfg_free(struct cfg *cfg)
{
	if (cfg == NULL)
		return;
	for (int i = 0; i < CFG_COUNT; i++)
		free(cfg->values[i]);
	json_object_put(cfg->notify);
	free(cfg->path);
	free(cfg->error);
	free(cfg);
}

const char *
cfg_path(const struct cfg *cfg)
{
	return cfg->path;
}

const char *
cfg_notifications(const struct cfg *cfg)
{
	return cfg->notify != NULL
	               ? json_object_to_json_string_ext(cfg->notify, JSON_C_TO_STRING_PLAIN)
	               : "[]";
}

/* A parameter's value as written (or its default), valid as long as the cfg. */
const char *
cfg_str(const struct cfg *cfg, enum cfg_id id)
{
	return cfg->values[id];
}

/* An integer parameter's value, already checked against its range. */
int64_t
cfg_int(const struct cfg *cfg, enum cfg_id id)
{
	return cfg->ints[id];
}

/* A boolean parameter's value, already checked to be true or false. */
bool
cfg_bool(const struct cfg *cfg, enum cfg_id id)
{
	return cfg->ints[id] != 0;
}

int
cfg_workers(const struct cfg *cfg, const char *role)
{
	int id = cfg_find(role, "workers");
	return id < 0 ? 1 : (int)cfg->ints[id];
}

const char *
cfg_user(const struct cfg *cfg, const char *role)
{
	int id = cfg_find(role, "user");
	return id < 0 ? "" : cfg->values[id];
}

const char *
cfg_database(const struct cfg *cfg, const char *role)
{
	int id = cfg_find(role, "database");
	if (id >= 0 && cfg->values[id][0] != '\0')
		return cfg->values[id];
	return cfg->values[CFG_GLOBAL_DATABASE];
}

const char *
cfg_database_read(const struct cfg *cfg, const char *role)
{
	int id = cfg_find(role, "database_read");
	if (id >= 0 && cfg->values[id][0] != '\0')
		return cfg->values[id];
	return cfg->values[CFG_GLOBAL_DATABASE_READ];
}

/* Whether a daemon reads the shared section [gc] (garbage collection: metad and blobd). */
static bool
cfg_role_reads_gc(const char *role)
{
	return strcmp(role, "metad") == 0 || strcmp(role, "blobd") == 0;
}

/* Writes text as "; " comment lines of at most CFG_COMMENT_WIDTH characters, broken between
 * words: inih reads a longer line as two, and the second would not be a comment. */
static void
print_comment(FILE *out, const char *text)
{
	while (*text != '\0') {
		size_t len = strlen(text);
		size_t take = len;
		if (len > CFG_COMMENT_WIDTH) {
			take = CFG_COMMENT_WIDTH;
			while (take > 0 && text[take] != ' ')
				take--;
			if (take == 0) /* one word longer than the width: cut it */
				take = CFG_COMMENT_WIDTH;
		}
		fprintf(out, "; %.*s\n", (int)take, text);
		text += take;
		while (*text == ' ')
			text++;
	}
}

void
cfg_print(const struct cfg *cfg, const char *role, FILE *out)
{
	const char *sections[] = { "global", role, "gc" };
	size_t n = cfg_role_reads_gc(role) ? 3 : 2;
	for (size_t s = 0; s < n; s++) {
		fprintf(out, "[%s]\n", sections[s]);
		for (int i = 0; i < CFG_COUNT; i++) {
			const struct cfg_param *p = &cfg_params[i];
			if (strcmp(p->section, sections[s]) != 0)
				continue;
			print_comment(out, p->help);
			const char *v = cfg->values[i];
			fprintf(out, "%s = %s\n", p->name, p->secret && *v ? "********" : v);
		}
		fprintf(out, "\n");
	}
}

int
cfg_check_reload(const struct cfg *old, const struct cfg *new, const char *role, char **cause)
{
	for (int i = 0; i < CFG_COUNT; i++) {
		const struct cfg_param *p = &cfg_params[i];
		if (p->reloadable)
			continue;
		if (strcmp(p->section, "global") != 0 && strcmp(p->section, role) != 0 &&
		    !(strcmp(p->section, "gc") == 0 && cfg_role_reads_gc(role)))
			continue;
		if (strcmp(old->values[i], new->values[i]) != 0) {
			*cause = xasprintf("[%s] %s cannot change on reload (restart instead)",
			                   p->section, p->name);
			return -1;
		}
	}
	return 0;
}
