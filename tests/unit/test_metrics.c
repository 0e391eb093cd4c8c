/* metrics.c: counters in shared memory, the samples of one daemon, one exposition of several. */
#include "unit.h"

#include <event2/buffer.h>
#include <sys/wait.h>
#include <unistd.h>

#include "metrics.h"

static const char *const routes[] = { "v2_base", "v2_blob" };

static char *
samples(void)
{
	struct evbuffer *b = evbuffer_new();
	metrics_write_samples(b);
	size_t len = evbuffer_get_length(b);
	char *s = strndup((const char *)evbuffer_pullup(b, -1), len);
	evbuffer_free(b);
	return s;
}

static int
setup(void **state)
{
	metrics_init("gateway", routes, 2);
	(void)state;
	return 0;
}

static void
route_ids(void **state)
{
	assert_int_equal(metrics_route_id("v2_base"), 0);
	assert_int_equal(metrics_route_id("v2_blob"), 1);
	int id = metrics_route_id("api_projects");
	assert_int_equal(id, 2);
	assert_int_equal(metrics_route_id("api_projects"), 2);
	assert_int_equal(metrics_route_id(NULL), -1);
	(void)state;
}

static void
counters_and_histogram(void **state)
{
	metrics_observe(0, 401, 1500, 0, 120);
	metrics_observe(0, 401, 2500, 0, 120);
	metrics_observe(1, 200, 3000000, 10, 5000);
	metrics_observe(-1, 404, 100, 0, 0); /* unlabelled: route "other" */
	metrics_worker_restart();
	metrics_set_workers(4);
	/* a child's observations land in the same shared counters */
	pid_t pid = fork();
	if (pid == 0) {
		metrics_observe(0, 401, 1000, 0, 0);
		_exit(0);
	}
	int status;
	waitpid(pid, &status, 0);
	char *s = samples();
	assert_non_null(strstr(s,
	                       "registry_http_requests_total{daemon=\"gateway\",route=\"v2_base\","
	                       "status=\"401\"} 3\n"));
	assert_non_null(strstr(s,
	                       "registry_http_requests_total{daemon=\"gateway\",route=\"v2_blob\","
	                       "status=\"200\"} 1\n"));
	assert_non_null(strstr(s, "route=\"other\",status=\"404\"} 1\n"));
	assert_non_null(strstr(s, "registry_http_request_duration_seconds_count{daemon=\"gateway\","
	                          "route=\"v2_base\"} 3\n"));
	assert_non_null(strstr(s,
	                       "registry_http_request_duration_seconds_bucket{daemon=\"gateway\","
	                       "route=\"v2_base\",le=\"+Inf\"} 3\n"));
	assert_non_null(strstr(s, "registry_http_received_bytes_total{daemon=\"gateway\"} 10\n"));
	assert_non_null(strstr(s, "registry_http_sent_bytes_total{daemon=\"gateway\"} 5240\n"));
	assert_non_null(strstr(s, "registry_worker_restarts_total{daemon=\"gateway\"} 1\n"));
	assert_non_null(strstr(s, "registry_workers{daemon=\"gateway\"} 4\n"));
	/* the 3 s request falls in no bucket below 3 s */
	assert_non_null(strstr(s, "route=\"v2_blob\",le=\"1\"} 0\n"));
	free(s);
	(void)state;
}

static void
values_shown_once_touched(void **state)
{
	char *s = samples();
	assert_null(strstr(s, "registry_gc_"));
	free(s);
	metrics_add(METRICS_GC_DELETED_FILES, 2);
	metrics_add(METRICS_GC_DELETED_FILES, 1);
	metrics_add(METRICS_GC_FREED_BYTES, 7);
	metrics_set(METRICS_GC_QUEUE_BLOBS, 9);
	metrics_set(METRICS_GC_QUEUE_BLOBS, 4);
	metrics_set(METRICS_GC_OLDEST_DUE_BLOBS, 1500); /* milliseconds, shown in seconds */
	s = samples();
	assert_non_null(
	        strstr(s, "registry_gc_deleted_total{daemon=\"gateway\",object=\"file\"} 3\n"));
	assert_non_null(strstr(s, "registry_gc_freed_bytes_total{daemon=\"gateway\"} 7\n"));
	assert_non_null(
	        strstr(s, "registry_gc_queue_depth{daemon=\"gateway\",queue=\"blob\"} 4\n"));
	assert_non_null(strstr(
	        s, "registry_gc_oldest_due_seconds{daemon=\"gateway\",queue=\"blob\"} 1.500\n"));
	/* untouched values stay out */
	assert_null(strstr(s, "object=\"manifest\""));
	/* and the exposition declares their families */
	const char *in[] = { s };
	struct evbuffer *out = evbuffer_new();
	metrics_render(out, in, 1);
	size_t len = evbuffer_get_length(out);
	char *text = strndup((const char *)evbuffer_pullup(out, -1), len);
	evbuffer_free(out);
	char *type = strstr(text, "# TYPE registry_gc_queue_depth gauge\n");
	assert_non_null(type);
	assert_true(type < strstr(text, "registry_gc_queue_depth{daemon="));
	assert_non_null(strstr(text, "# TYPE registry_gc_freed_bytes_total counter\n"));
	free(text);
	free(s);
	(void)state;
}

static void
render_groups_families(void **state)
{
	const char *a =
	        "registry_http_requests_total{daemon=\"gateway\",route=\"x\",status=\"200\"} 1\n"
	        "registry_workers{daemon=\"gateway\"} 2\n";
	const char *b =
	        "registry_workers{daemon=\"authd\"} 3\n"
	        "registry_http_requests_total{daemon=\"authd\",route=\"y\",status=\"200\"} 5\n"
	        "registry_http_request_duration_seconds_bucket{daemon=\"authd\",route=\"y\","
	        "le=\"+Inf\"} 5\n";
	const char *in[] = { a, b };
	struct evbuffer *out = evbuffer_new();
	metrics_render(out, in, 2);
	size_t len = evbuffer_get_length(out);
	char *text = strndup((const char *)evbuffer_pullup(out, -1), len);
	evbuffer_free(out);
	char *type_req = strstr(text, "# TYPE registry_http_requests_total counter\n");
	char *type_workers = strstr(text, "# TYPE registry_workers gauge\n");
	char *gw_req = strstr(text, "route=\"x\",status=\"200\"} 1\n");
	char *ad_req = strstr(text, "route=\"y\",status=\"200\"} 5\n");
	char *gw_workers = strstr(text, "registry_workers{daemon=\"gateway\"} 2\n");
	char *ad_workers = strstr(text, "registry_workers{daemon=\"authd\"} 3\n");
	assert_non_null(type_req);
	assert_non_null(type_workers);
	assert_non_null(gw_req);
	assert_non_null(ad_req);
	assert_non_null(gw_workers);
	assert_non_null(ad_workers);
	/* every family's samples follow its TYPE line and come before the next family */
	assert_true(type_req < gw_req && gw_req < ad_req && ad_req < type_workers);
	assert_true(type_workers < gw_workers && gw_workers < ad_workers);
	/* a histogram line is not mistaken for a counter of a longer name, nor counted twice */
	char *first = strstr(text, "le=\"+Inf\"} 5");
	assert_non_null(first);
	assert_null(strstr(first + 1, "le=\"+Inf\"} 5"));
	assert_non_null(strstr(text, "# TYPE registry_http_request_duration_seconds histogram\n"));
	assert_true(strstr(text, "# TYPE registry_http_request_duration_seconds histogram") <
	            first);
	/* exactly one HELP per family */
	char *help = strstr(text, "# HELP registry_workers ");
	assert_non_null(help);
	assert_null(strstr(help + 1, "# HELP registry_workers "));
	free(text);
	(void)state;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(route_ids),
		cmocka_unit_test(counters_and_histogram),
		cmocka_unit_test(values_shown_once_touched),
		cmocka_unit_test(render_groups_families),
	};
	return cmocka_run_group_tests_name("metrics", tests, setup, NULL);
}
