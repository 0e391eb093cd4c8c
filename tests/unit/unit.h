/* What every unit test includes: cmocka and its prerequisites, and small helpers. */
#ifndef REGISTRY_UNIT_H
#define REGISTRY_UNIT_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* Asserts a heap string equals want, then frees it (NULL matches NULL only). */
#define assert_str_free(got, want)                                                                 \
	do {                                                                                       \
		char *got_ = (got);                                                                \
		const char *want_ = (want);                                                        \
		if (want_ == NULL) {                                                               \
			assert_null(got_);                                                         \
		} else {                                                                           \
			assert_non_null(got_);                                                     \
			assert_string_equal(got_, want_);                                          \
		}                                                                                  \
		free(got_);                                                                        \
	} while (0)

#endif
