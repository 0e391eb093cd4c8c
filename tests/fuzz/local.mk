# libFuzzer targets (./configure --enable-fuzzing CC=clang; tests/fuzz/run builds and runs them).
# Each one drives the real code of the module it names: libcommon and the daemon modules listed
# are compiled with coverage, ASan and UBSan (configure's SAN_CFLAGS for a fuzzing build), and
# the targets link libFuzzer (FUZZ_CFLAGS). Seeds live in tests/fuzz/corpus/<target>/.
if ENABLE_FUZZING
FUZZ_TARGETS = tests/fuzz/cfg tests/fuzz/cleanup tests/fuzz/gl_params tests/fuzz/http_chunked \
	tests/fuzz/http_request tests/fuzz/http_response tests/fuzz/manifest tests/fuzz/multipart \
	tests/fuzz/names tests/fuzz/range tests/fuzz/token tests/fuzz/upload_state
noinst_PROGRAMS += $(FUZZ_TARGETS)
FUZZ_LINK = $(AM_LDFLAGS) $(FUZZ_CFLAGS)
FUZZ_COMMON = tests/fuzz/fuzz.h tests/fuzz/fuzz_util.c
# The HTTP targets drive the server and client over sockets (fuzz_http.c says why reads are
# wrapped).
FUZZ_HTTP = $(FUZZ_COMMON) tests/fuzz/fuzz_http.c
FUZZ_HTTP_LINK = $(FUZZ_LINK) -Wl,--wrap=evbuffer_reserve_space

tests_fuzz_cfg_SOURCES = tests/fuzz/cfg.c $(FUZZ_COMMON)
tests_fuzz_cfg_LDFLAGS = $(FUZZ_LINK)
tests_fuzz_cfg_LDADD = $(COMMON_LIBS)

tests_fuzz_cleanup_SOURCES = tests/fuzz/cleanup.c $(FUZZ_COMMON) metad/registry_cleanup.c
tests_fuzz_cleanup_CFLAGS = $(AM_CFLAGS) -I$(srcdir)/metad
tests_fuzz_cleanup_LDFLAGS = $(FUZZ_LINK)
tests_fuzz_cleanup_LDADD = $(COMMON_LIBS)

tests_fuzz_gl_params_SOURCES = tests/fuzz/gl_params.c $(FUZZ_HTTP)
tests_fuzz_gl_params_LDFLAGS = $(FUZZ_HTTP_LINK)
tests_fuzz_gl_params_LDADD = $(COMMON_LIBS)

tests_fuzz_http_chunked_SOURCES = tests/fuzz/http_chunked.c $(FUZZ_HTTP)
tests_fuzz_http_chunked_LDFLAGS = $(FUZZ_HTTP_LINK)
tests_fuzz_http_chunked_LDADD = $(COMMON_LIBS)

tests_fuzz_http_request_SOURCES = tests/fuzz/http_request.c $(FUZZ_HTTP)
tests_fuzz_http_request_LDFLAGS = $(FUZZ_HTTP_LINK)
tests_fuzz_http_request_LDADD = $(COMMON_LIBS)

tests_fuzz_http_response_SOURCES = tests/fuzz/http_response.c $(FUZZ_HTTP)
tests_fuzz_http_response_LDFLAGS = $(FUZZ_HTTP_LINK)
tests_fuzz_http_response_LDADD = $(COMMON_LIBS)

tests_fuzz_manifest_SOURCES = tests/fuzz/manifest.c $(FUZZ_COMMON) metad/manifest.c
tests_fuzz_manifest_CFLAGS = $(AM_CFLAGS) -I$(srcdir)/metad
tests_fuzz_manifest_LDFLAGS = $(FUZZ_LINK)
tests_fuzz_manifest_LDADD = $(COMMON_LIBS)

tests_fuzz_multipart_SOURCES = tests/fuzz/multipart.c
tests_fuzz_multipart_LDFLAGS = $(FUZZ_LINK)
tests_fuzz_multipart_LDADD = $(COMMON_LIBS)

tests_fuzz_names_SOURCES = tests/fuzz/names.c $(FUZZ_COMMON)
tests_fuzz_names_LDFLAGS = $(FUZZ_LINK)
tests_fuzz_names_LDADD = $(COMMON_LIBS)

tests_fuzz_range_SOURCES = tests/fuzz/range.c $(FUZZ_COMMON)
tests_fuzz_range_LDFLAGS = $(FUZZ_LINK)
tests_fuzz_range_LDADD = $(COMMON_LIBS)

tests_fuzz_token_SOURCES = tests/fuzz/token.c $(FUZZ_COMMON)
tests_fuzz_token_LDFLAGS = $(FUZZ_LINK)
tests_fuzz_token_LDADD = $(COMMON_LIBS)

tests_fuzz_upload_state_SOURCES = tests/fuzz/upload_state.c $(FUZZ_COMMON) blobd/session.c
tests_fuzz_upload_state_CFLAGS = $(AM_CFLAGS) -I$(srcdir)/blobd
tests_fuzz_upload_state_LDFLAGS = $(FUZZ_LINK)
tests_fuzz_upload_state_LDADD = $(COMMON_LIBS)

# `make fuzz` builds the targets only.
fuzz: $(FUZZ_TARGETS)
.PHONY: fuzz
endif
