/* cfg.c: defaults, the INI file, environment overrides, bad values, unknown keys, reloads. */
#include "unit.h"

#include <stdio.h>
#include <unistd.h>

#include "cfg.h"

/* Writes text to a fresh temporary file; the caller unlinks and frees the path. */
static char *
write_tmp(const char *text)
{
	char *path = strdup("/tmp/cfgtest-XXXXXX");
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	return path;
}

/* Loads text; returns the configuration or NULL with *cause. */
static struct cfg *
load_text(const char *text, char **cause)
{
	char *path = write_tmp(text);
	struct cfg *c = cfg_load(path, cause);
	unlink(path);
	free(path);
	return c;
}

/* Expects text to be refused with a message containing want. */
static void
expect_refused(const char *text, const char *want)
{
	char *cause = NULL;
	struct cfg *c = load_text(text, &cause);
	if (c != NULL) {
		cfg_free(c);
		fail_msg("accepted: %s", text);
	}
	assert_non_null(cause);
	if (strstr(cause, want) == NULL)
		fail_msg("message \"%s\" lacks \"%s\"", cause, want);
	free(cause);
}

static void
clear_env(void)
{
	unsetenv("REGISTRY_GATEWAY_WORKERS");
	unsetenv("REGISTRY_GLOBAL_LOG_LEVEL");
	unsetenv("REGISTRY_BLOBD_FSYNC");
	unsetenv("REGISTRY_GATEWAY_LISTEN");
	unsetenv("REGISTRY_GC_REVIEW_DELAY");
}

static void
defaults(void **state)
{
	clear_env();
	char *cause = NULL;
	struct cfg *c = cfg_load(NULL, &cause);
	assert_non_null(c);
	assert_string_equal(cfg_path(c), "(defaults)");
	assert_string_equal(cfg_str(c, CFG_GATEWAY_LISTEN), "127.0.0.1:5000");
	assert_string_equal(cfg_str(c, CFG_GLOBAL_SOCKET_DIR), "/run/registry");
	assert_int_equal(cfg_int(c, CFG_GLOBAL_SHUTDOWN_TIMEOUT), 30);
	assert_int_equal(cfg_workers(c, "gateway"), 2);
	assert_int_equal(cfg_workers(c, "metad"), 2);
	assert_true(cfg_bool(c, CFG_BLOBD_FSYNC));
	assert_string_equal(cfg_database(c, "authd"), "dbname=registry");
	/* garbage collection: on, GitLab's day of review delay, a run every 5 s */
	assert_true(cfg_bool(c, CFG_GC_ENABLED));
	assert_int_equal(cfg_int(c, CFG_GC_REVIEW_DELAY), 86400);
	assert_int_equal(cfg_int(c, CFG_GC_INTERVAL), 5);
	assert_int_equal(cfg_int(c, CFG_GC_ORPHAN_GRACE), 3600);
	cfg_free(c);
	(void)state;
}

static void
file_values(void **state)
{
	clear_env();
	char *cause = NULL;
	struct cfg *c = load_text("; a comment\n"
	                          "[global]\n"
	                          "database = host=/tmp dbname=reg\n"
	                          "log_level = DEBUG\n"
	                          "[gateway]\n"
	                          "listen = [::1]:5001\n"
	                          "workers = 8\n"
	                          "[authd]\n"
	                          "database = dbname=auth\n"
	                          "[blobd]\n"
	                          "fsync = off\n"
	                          "compression = none\n",
	                          &cause);
	assert_non_null(c);
	assert_string_equal(cfg_str(c, CFG_GLOBAL_DATABASE), "host=/tmp dbname=reg");
	assert_string_equal(cfg_str(c, CFG_GATEWAY_LISTEN), "[::1]:5001");
	assert_int_equal(cfg_workers(c, "gateway"), 8);
	assert_int_equal(cfg_workers(c, "blobd"), 2);
	assert_false(cfg_bool(c, CFG_BLOBD_FSYNC));
	assert_string_equal(cfg_str(c, CFG_BLOBD_COMPRESSION), "none");
	assert_int_equal(cfg_int(c, CFG_BLOBD_COMPRESSION_LEVEL), 3);
	/* a daemon's own database wins; the others use [global] */
	assert_string_equal(cfg_database(c, "authd"), "dbname=auth");
	assert_string_equal(cfg_database(c, "metad"), "host=/tmp dbname=reg");
	assert_int_equal(cfg_workers(c, "nosuchrole"), 1);
	cfg_free(c);
	(void)state;
}

static void
environment_overrides(void **state)
{
	clear_env();
	setenv("REGISTRY_GATEWAY_WORKERS", "5", 1);
	setenv("REGISTRY_BLOBD_FSYNC", "no", 1);
	setenv("REGISTRY_GC_REVIEW_DELAY", "1", 1);
	char *cause = NULL;
	struct cfg *c = load_text("[gateway]\nworkers = 3\n[gc]\nreview_delay = 600\n", &cause);
	assert_non_null(c);
	assert_int_equal(cfg_workers(c, "gateway"), 5);
	assert_false(cfg_bool(c, CFG_BLOBD_FSYNC));
	assert_int_equal(cfg_int(c, CFG_GC_REVIEW_DELAY), 1);
	cfg_free(c);
	/* a bad value from the environment names the variable */
	setenv("REGISTRY_GATEWAY_WORKERS", "lots", 1);
	c = cfg_load(NULL, &cause);
	assert_null(c);
	assert_non_null(strstr(cause, "REGISTRY_GATEWAY_WORKERS"));
	assert_non_null(strstr(cause, "lots"));
	free(cause);
	clear_env();
	(void)state;
}

static void
bad_values(void **state)
{
	clear_env();
	expect_refused("[gateway]\nworkers = 0\n", "workers must be an integer in 1..256");
	expect_refused("[gateway]\nworkers = 257\n", "1..256");
	expect_refused("[gateway]\nworkers = two\n", "not \"two\"");
	expect_refused("[gateway]\nworkers = 2x\n", "workers");
	expect_refused("[gateway]\nworkers =\n", "workers");
	expect_refused("[global]\nshutdown_timeout = -1\n", "shutdown_timeout");
	expect_refused("[blobd]\nfsync = maybe\n", "fsync must be true or false");
	expect_refused("[gc]\nreview_delay = 0\n", "[gc] review_delay must be an integer in 1..");
	expect_refused("[gc]\nenabled = sometimes\n", "enabled must be true or false");
	expect_refused("[global]\nlog_level = loud\n",
	               "log_level must be debug, info, warn or error");
	expect_refused("[global]\nlog_format = xml\n",
	               "[global] log_format must be text or json, not \"xml\"");
	expect_refused("[blobd]\ncompression = lz4\n", "compression must be zstd or none");
	expect_refused("[blobd]\ncompression_level = 20\n", "compression_level must be");
	expect_refused("[blobd]\ncompression_frame_size = 1024\n", "compression_frame_size");
	/* the storage's rules between parameters: a redirect needs S3, and plain objects (zstd
	 * is the default compression, so a redirect alone is refused) */
	expect_refused("[blobd]\nredirect = true\n", "[blobd] redirect = true needs storage = s3");
	expect_refused("[blobd]\nstorage = s3\nredirect = true\n",
	               "[blobd] redirect = true needs compression = none");
	expect_refused("[blobd]\nredirect_expiry = 0\n", "redirect_expiry must be an integer in");
	expect_refused("[blobd]\nredirect_expiry = 604801\n", "redirect_expiry must be");
	expect_refused("[blobd]\ns3_part_size = 5242879\n",
	               "s3_part_size must be an integer in 5242880..5368709120");
	(void)state;
}

static void
unknown_keys(void **state)
{
	clear_env();
	expect_refused("[gateway]\nwrokers = 2\n", "unknown parameter \"wrokers\" in [gateway]");
	expect_refused("[gateway]\nstorage_root = /x\n", "unknown parameter \"storage_root\"");
	expect_refused("[registry]\nworkers = 2\n", "unknown section [registry]");
	expect_refused("workers = 2\n", "\"workers\" is outside any [section]");
	expect_refused("[gateway\nworkers = 2\n", "malformed section header");
	expect_refused("[gateway]\nworkers 2\n", "syntax error");
	expect_refused("[gateway]\nworkers = 2\nworkers = 3\n",
	               "\"workers\" in [gateway] is set twice");
	expect_refused("[gateway]\nworkers = 2\n 3 ;x\n", "is set twice (or continued");
	char *cause = NULL;
	assert_null(cfg_load("/nonexistent/registry.conf", &cause));
	assert_non_null(strstr(cause, "cannot open"));
	free(cause);
	(void)state;
}

/* A line longer than inih reads whole is refused rather than cut (its rest would be read as a
 * line of its own), and so is a value whose printed line would be. */
static void
long_lines(void **state)
{
	clear_env();
	char text[512], *cause = NULL;
	snprintf(text, sizeof(text), "[gateway]\nuser = %0250d\n", 0);
	expect_refused(text, ":2: line longer than 199 characters");
	snprintf(text, sizeof(text), "[gateway]\n; %0250d\nworkers = 2\n", 0);
	expect_refused(text, ":2: line longer than 199 characters");
	/* 199 characters as written, 200 as cfg_print would write them */
	snprintf(text, sizeof(text), "[gateway]\nuser =%0193d\n", 0);
	expect_refused(text, "the value of \"user\" in [gateway] is too long");
	/* 199 characters, the last line without its end */
	snprintf(text, sizeof(text), "[gateway]\nuser = %0192d", 7);
	struct cfg *cfg = load_text(text, &cause);
	assert_non_null(cfg);
	assert_int_equal(strlen(cfg_str(cfg, CFG_GATEWAY_USER)), 192);
	cfg_free(cfg);
	(void)state;
}

/* What cfg_print shows for every role loads again (long descriptions are wrapped: inih would
 * read the rest of a long comment line as a line of its own). */
static void
print_loads_again(void **state)
{
	clear_env();
	char *cause = NULL;
	struct cfg *defaults = cfg_load(NULL, &cause);
	assert_non_null(defaults);
	const char *roles[] = { "gateway", "authd", "metad", "blobd" };
	for (size_t r = 0; r < sizeof(roles) / sizeof(roles[0]); r++) {
		char *text = NULL;
		size_t len = 0;
		FILE *f = open_memstream(&text, &len);
		cfg_print(defaults, roles[r], f);
		fclose(f);
		for (char *line = text; *line != '\0';) {
			size_t n = strcspn(line, "\n");
			assert_true(n <= 100);
			line += n + (line[n] == '\n');
		}
		struct cfg *again = load_text(text, &cause);
		if (again == NULL)
			fail_msg("%s: %s", roles[r], cause);
		cfg_free(again);
		free(text);
	}
	cfg_free(defaults);
	(void)state;
}

static void
print_masks_secrets(void **state)
{
	clear_env();
	char *cause = NULL;
	struct cfg *c = load_text("[global]\ndatabase = host=db password=hunter2\n"
	                          "[gateway]\nworkers = 3\n",
	                          &cause);
	assert_non_null(c);
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	cfg_print(c, "gateway", f);
	fclose(f);
	assert_null(strstr(text, "hunter2"));
	assert_non_null(strstr(text, "database = ********"));
	assert_non_null(strstr(text, "[gateway]\n"));
	assert_non_null(strstr(text, "workers = 3\n"));
	assert_null(strstr(text, "[blobd]")); /* only [global] and the role's own section */
	assert_null(strstr(text, "[gc]"));
	free(text);
	text = NULL;
	f = open_memstream(&text, &len);
	cfg_print(c, "metad", f); /* metad and blobd read [gc] too */
	fclose(f);
	assert_non_null(strstr(text, "[metad]\n"));
	assert_non_null(strstr(text, "[gc]\n"));
	assert_non_null(strstr(text, "review_delay = 86400\n"));
	free(text);
	cfg_free(c);
	(void)state;
}

static void
reload_rules(void **state)
{
	clear_env();
	char *cause = NULL;
	struct cfg *a = load_text("[gateway]\nworkers = 2\nlisten = 127.0.0.1:5000\n", &cause);
	struct cfg *b = load_text("[gateway]\nworkers = 6\nlisten = 127.0.0.1:5000\n", &cause);
	struct cfg *d = load_text("[gateway]\nworkers = 2\nlisten = 127.0.0.1:6000\n", &cause);
	struct cfg *s = load_text("[blobd]\nstorage_root = /elsewhere\n", &cause);
	assert_non_null(a);
	assert_non_null(b);
	assert_non_null(d);
	assert_non_null(s);
	assert_int_equal(cfg_check_reload(a, b, "gateway", &cause), 0);
	assert_int_equal(cfg_check_reload(a, d, "gateway", &cause), -1);
	assert_non_null(strstr(cause, "[gateway] listen cannot change on reload"));
	free(cause);
	/* another daemon's fixed parameter does not concern this one */
	assert_int_equal(cfg_check_reload(a, s, "gateway", &cause), 0);
	assert_int_equal(cfg_check_reload(a, s, "blobd", &cause), -1);
	free(cause);
	/* the log's format changes on reload, as its level does */
	struct cfg *j = load_text("[global]\nlog_format = json\nlog_level = debug\n", &cause);
	assert_non_null(j);
	assert_string_equal(cfg_str(a, CFG_GLOBAL_LOG_FORMAT), "text");
	assert_string_equal(cfg_str(j, CFG_GLOBAL_LOG_FORMAT), "json");
	assert_int_equal(cfg_check_reload(a, j, "gateway", &cause), 0);
	assert_int_equal(cfg_check_reload(j, a, "blobd", &cause), 0);
	cfg_free(a);
	cfg_free(b);
	cfg_free(d);
	cfg_free(s);
	cfg_free(j);
	(void)state;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(defaults),
		cmocka_unit_test(file_values),
		cmocka_unit_test(environment_overrides),
		cmocka_unit_test(bad_values),
		cmocka_unit_test(unknown_keys),
		cmocka_unit_test(long_lines),
		cmocka_unit_test(print_masks_secrets),
		cmocka_unit_test(print_loads_again),
		cmocka_unit_test(reload_rules),
	};
	return cmocka_run_group_tests_name("cfg", tests, NULL, NULL);
}
