# libFuzzer targets (./configure --enable-fuzzing CC=clang). Each one is built from the real
# source of the module it drives, instrumented with FUZZ_CFLAGS, and linked with libcommon for
# the rest; seeds live in tests/fuzz/corpus/<target>/.
if ENABLE_FUZZING
FUZZ_TARGETS = tests/fuzz/multipart
noinst_PROGRAMS += $(FUZZ_TARGETS)
tests_fuzz_multipart_SOURCES = tests/fuzz/multipart.c common/multipart.c common/multipart.h
tests_fuzz_multipart_CFLAGS = $(AM_CFLAGS) $(FUZZ_CFLAGS)
tests_fuzz_multipart_LDFLAGS = $(AM_LDFLAGS) $(FUZZ_CFLAGS)
tests_fuzz_multipart_LDADD = $(COMMON_LIBS)
endif
