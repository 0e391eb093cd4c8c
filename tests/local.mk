# Unit tests (cmocka) of the pure modules; `make check` runs them (tests/run counts them).
# Each test is one program tests/unit/test_<module> linked with common/libcommon.a; a daemon's
# module test adds that module's source (see authd below).
if HAVE_CMOCKA
UNIT_TESTS = \
	tests/unit/test_actor \
	tests/unit/test_cfg \
	tests/unit/test_headers \
	tests/unit/test_log \
	tests/unit/test_lsn \
	tests/unit/test_metrics \
	tests/unit/test_multipart \
	tests/unit/test_names \
	tests/unit/test_range \
	tests/unit/test_router \
	tests/unit/test_status \
	tests/unit/test_token \
	tests/unit/test_url \
	tests/unit/test_util \
	tests/unit/test_v2path
check_PROGRAMS += $(UNIT_TESTS)
TESTS += $(UNIT_TESTS)
UNIT_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
UNIT_LDADD = $(COMMON_LIBS) $(CMOCKA_LIBS)

tests_unit_test_actor_SOURCES = tests/unit/test_actor.c tests/unit/unit.h
tests_unit_test_actor_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_actor_LDADD = $(UNIT_LDADD)
tests_unit_test_cfg_SOURCES = tests/unit/test_cfg.c tests/unit/unit.h
tests_unit_test_cfg_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_cfg_LDADD = $(UNIT_LDADD)
tests_unit_test_headers_SOURCES = tests/unit/test_headers.c tests/unit/unit.h
tests_unit_test_headers_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_headers_LDADD = $(UNIT_LDADD)
tests_unit_test_log_SOURCES = tests/unit/test_log.c tests/unit/unit.h
tests_unit_test_log_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_log_LDADD = $(UNIT_LDADD)
tests_unit_test_metrics_SOURCES = tests/unit/test_metrics.c tests/unit/unit.h
tests_unit_test_metrics_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_metrics_LDADD = $(UNIT_LDADD)
tests_unit_test_multipart_SOURCES = tests/unit/test_multipart.c tests/unit/unit.h
tests_unit_test_multipart_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_multipart_LDADD = $(UNIT_LDADD)
tests_unit_test_names_SOURCES = tests/unit/test_names.c tests/unit/unit.h
tests_unit_test_names_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_names_LDADD = $(UNIT_LDADD)
tests_unit_test_range_SOURCES = tests/unit/test_range.c tests/unit/unit.h
tests_unit_test_range_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_range_LDADD = $(UNIT_LDADD)
tests_unit_test_router_SOURCES = tests/unit/test_router.c tests/unit/unit.h
tests_unit_test_router_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_router_LDADD = $(UNIT_LDADD)
tests_unit_test_status_SOURCES = tests/unit/test_status.c tests/unit/unit.h
tests_unit_test_status_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_status_LDADD = $(UNIT_LDADD)
tests_unit_test_token_SOURCES = tests/unit/test_token.c tests/unit/unit.h
tests_unit_test_token_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_token_LDADD = $(UNIT_LDADD)
tests_unit_test_lsn_SOURCES = tests/unit/test_lsn.c tests/unit/unit.h
tests_unit_test_lsn_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_lsn_LDADD = $(UNIT_LDADD)
tests_unit_test_url_SOURCES = tests/unit/test_url.c tests/unit/unit.h
tests_unit_test_url_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_url_LDADD = $(UNIT_LDADD)
tests_unit_test_util_SOURCES = tests/unit/test_util.c tests/unit/unit.h
tests_unit_test_util_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_util_LDADD = $(UNIT_LDADD)
tests_unit_test_v2path_SOURCES = tests/unit/test_v2path.c tests/unit/unit.h
tests_unit_test_v2path_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_v2path_LDADD = $(UNIT_LDADD)

# authd: token service scopes and rights, token formats.
UNIT_AUTHD_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS) -I$(srcdir)/authd
UNIT_AUTHD_LIBS = $(COMMON_LIBS) $(CMOCKA_LIBS)
check_PROGRAMS += tests/unit/test_authd_access tests/unit/test_authd_secret
TESTS += tests/unit/test_authd_access tests/unit/test_authd_secret
tests_unit_test_authd_access_SOURCES = tests/unit/test_authd_access.c authd/access.c
tests_unit_test_authd_access_CFLAGS = $(UNIT_AUTHD_CFLAGS)
tests_unit_test_authd_access_LDADD = $(UNIT_AUTHD_LIBS)
tests_unit_test_authd_secret_SOURCES = tests/unit/test_authd_secret.c authd/secret.c
tests_unit_test_authd_secret_CFLAGS = $(UNIT_AUTHD_CFLAGS)
tests_unit_test_authd_secret_LDADD = $(UNIT_AUTHD_LIBS)

# the registry: digests (common) and manifest validation (metad).
check_PROGRAMS += tests/unit/test_digest tests/unit/test_manifest
TESTS += tests/unit/test_digest tests/unit/test_manifest
tests_unit_test_digest_SOURCES = tests/unit/test_digest.c
tests_unit_test_digest_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_digest_LDADD = $(UNIT_LDADD)
tests_unit_test_manifest_SOURCES = tests/unit/test_manifest.c metad/manifest.c metad/manifest.h
tests_unit_test_manifest_CFLAGS = $(UNIT_CFLAGS) -I$(srcdir)/metad
tests_unit_test_manifest_LDADD = $(UNIT_LDADD)

# the Container Registry API: bulk-deletion rules (metad).
check_PROGRAMS += tests/unit/test_registry_cleanup
TESTS += tests/unit/test_registry_cleanup
tests_unit_test_registry_cleanup_SOURCES = tests/unit/test_registry_cleanup.c \
	metad/registry_cleanup.c metad/metad.h
tests_unit_test_registry_cleanup_CFLAGS = $(UNIT_CFLAGS) $(PCRE2_CFLAGS) -I$(srcdir)/metad
tests_unit_test_registry_cleanup_LDADD = $(UNIT_LDADD) $(PCRE2_LIBS)

# blobd: the compressed form of blob files, and the store's changes with the storage gauges.
UNIT_BLOBD_CFLAGS = $(UNIT_CFLAGS) -I$(srcdir)/blobd
check_PROGRAMS += tests/unit/test_blobd_zst tests/unit/test_blobd_store
TESTS += tests/unit/test_blobd_zst tests/unit/test_blobd_store
tests_unit_test_blobd_zst_SOURCES = tests/unit/test_blobd_zst.c blobd/zst.c blobd/blobd.h
tests_unit_test_blobd_zst_CFLAGS = $(UNIT_BLOBD_CFLAGS)
tests_unit_test_blobd_zst_LDADD = $(UNIT_LDADD)
tests_unit_test_blobd_store_SOURCES = tests/unit/test_blobd_store.c blobd/store.c blobd/zst.c \
	blobd/zstream.c \
	blobd/tally.c blobd/blobd.h
tests_unit_test_blobd_store_CFLAGS = $(UNIT_BLOBD_CFLAGS)
tests_unit_test_blobd_store_LDADD = $(UNIT_LDADD) -lpthread

# blobd's S3 client: signatures against AWS's documented examples, XML answers, settings.
BLOBD_S3_SOURCES = blobd/s3.c blobd/s3sign.c blobd/s3xml.c blobd/s3.h
check_PROGRAMS += tests/unit/test_blobd_s3sign tests/unit/test_blobd_s3
TESTS += tests/unit/test_blobd_s3sign tests/unit/test_blobd_s3
tests_unit_test_blobd_s3sign_SOURCES = tests/unit/test_blobd_s3sign.c blobd/s3sign.c blobd/s3.h
tests_unit_test_blobd_s3sign_CFLAGS = $(UNIT_BLOBD_CFLAGS)
tests_unit_test_blobd_s3sign_LDADD = $(UNIT_LDADD)
tests_unit_test_blobd_s3_SOURCES = tests/unit/test_blobd_s3.c $(BLOBD_S3_SOURCES)
tests_unit_test_blobd_s3_CFLAGS = $(UNIT_BLOBD_CFLAGS)
tests_unit_test_blobd_s3_LDADD = $(UNIT_LDADD) $(LIBCURL_LIBS)

# tags/list answers kept per metad worker.
check_PROGRAMS += tests/unit/test_tags_cache
TESTS += tests/unit/test_tags_cache
tests_unit_test_tags_cache_SOURCES = tests/unit/test_tags_cache.c metad/tags_cache.c \
	metad/metad.h
tests_unit_test_tags_cache_CFLAGS = $(UNIT_CFLAGS) -I$(srcdir)/metad
tests_unit_test_tags_cache_LDADD = $(UNIT_LDADD)
endif

# Test programs the integration tests run (built by `make check`, not tests themselves).
# s3probe: blobd's S3 client, one operation per command, against the tests' Ceph RADOS Gateway.
check_PROGRAMS += tests/tools/s3probe
tests_tools_s3probe_SOURCES = tests/tools/s3probe.c blobd/s3.c blobd/s3sign.c blobd/s3xml.c \
	blobd/s3.h
tests_tools_s3probe_CFLAGS = $(AM_CFLAGS) -I$(srcdir)/blobd
tests_tools_s3probe_LDADD = $(COMMON_LIBS) $(LIBCURL_LIBS)
