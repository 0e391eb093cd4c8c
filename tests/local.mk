# Unit tests (cmocka) of the pure modules; `make check` runs them.

# Unit tests of the registry's own pure modules (digests, manifest validation).
if HAVE_CMOCKA
REGISTRY_UNIT_TESTS = tests/unit/test_digest tests/unit/test_manifest
check_PROGRAMS += $(REGISTRY_UNIT_TESTS)
TESTS += $(REGISTRY_UNIT_TESTS)
tests_unit_test_digest_SOURCES = tests/unit/test_digest.c
tests_unit_test_digest_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_digest_LDADD = $(COMMON_LIBS) $(CMOCKA_LIBS)
tests_unit_test_manifest_SOURCES = tests/unit/test_manifest.c metad/manifest.c metad/manifest.h
tests_unit_test_manifest_CPPFLAGS = $(AM_CPPFLAGS) -I$(srcdir)/metad
tests_unit_test_manifest_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_manifest_LDADD = $(COMMON_LIBS) $(CMOCKA_LIBS)
endif
