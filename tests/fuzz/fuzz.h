/*
 * What the libFuzzer targets of tests/fuzz share: a digest of what a run saw (to compare two
 * runs of one input), a private folder, and the HTTP server and client of common/ driven over
 * real unix sockets (fuzz_http.c), so that the HTTP targets run the daemons' own code paths:
 * accepting, reading, parsing, limits, body delivery with back-pressure, answers.
 */
#ifndef REGISTRY_FUZZ_H
#define REGISTRY_FUZZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http.h"

struct event_base;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* ---- fuzz_util.c ----------------------------------------------------------------------------- */

/* FNV-1a over what a run observed, in order. */
struct fuzz_digest {
	uint64_t h;
};
void fuzz_digest_init(struct fuzz_digest *d);
void fuzz_digest_add(struct fuzz_digest *d, const void *data, size_t len);
/* A string and its end (NULL as a lone 0xff, so that NULL and "" differ). */
void fuzz_digest_str(struct fuzz_digest *d, const char *s);
void fuzz_digest_int(struct fuzz_digest *d, int64_t v);

/* Stops the run with a message on stderr: an invariant broke (libFuzzer reports the crash). */
void fuzz_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
/* Whether s is NUL-terminated within max bytes: a bounded string. */
bool fuzz_bounded(const char *s, size_t max);
/* A private folder for this process, removed (with what the target left in it) at exit. */
const char *fuzz_dir(void);
/* A copy of len bytes of data with a NUL after them (caller frees). */
char *fuzz_strndup(const uint8_t *data, size_t len);
/* Cuts data at its first '\n': *line gets a copy of the line (caller frees), *rest and *rest_len
 * what follows; false when there is no '\n' within max bytes. */
bool fuzz_take_line(const uint8_t **data, size_t *len, size_t max, char **line);

/* ---- fuzz_http.c ----------------------------------------------------------------------------- */

/* The loop every HTTP target runs in (made on first use). */
struct event_base *fuzz_base(void);

/* Starts the server of common/http_server.c with handler and limits, listening on a unix socket
 * in fuzz_dir(); error bodies are the daemons' (error_server_body). Once per process. */
void fuzz_server_start(http_handler handler, void *arg, const struct http_limits *limits);
/* Sends data to the server over a new connection, in pieces cut at the increasing offsets cuts[]
 * with the loop run until nothing moves after each, then closes the sending side and runs the
 * loop until the server has let the connection go. Returns how many bytes the server answered. */
size_t fuzz_server_exchange(const uint8_t *data, size_t len, const size_t *cuts, size_t ncuts);

/* The unix socket httpc pools of a target connect to; the harness is the backend behind it. */
const char *fuzz_backend_path(void);
/* Takes the connection an httpc request just opened and answers it with data, in pieces cut at
 * cuts[] like fuzz_server_exchange, then closes the connection's sending side and runs the loop
 * until finished(arg) says the request is over (fails the run when it never is). */
void fuzz_backend_answer(const uint8_t *data, size_t len, const size_t *cuts, size_t ncuts,
                         bool (*finished)(void *arg), void *arg);

/* Up to max cut offsets inside [0, len) from the last bytes of data (which the input chooses
 * freely), increasing; how many. */
size_t fuzz_cuts(const uint8_t *data, size_t len, size_t *cuts, size_t max);

#endif
