# Unit tests (cmocka) of the pure modules; `make check` runs them.

if HAVE_CMOCKA
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
endif
