/*
 * libFuzzer target of the upload-session state loader: blobd/session.c reading
 * uploads/<id>/state (JSON: repository, algorithm, offset, hash, started_at) and
 * common/digest.c's digest_state_load validating the saved hash state before libcrypto uses it.
 *
 * Input: a state file (the seeds are state files blobd wrote during real chunked uploads to
 * acme/web, with sha256 and sha512). The target writes it where a session's state lives and
 * opens the session as blobd does, unlocked and locked. A session that opens names acme/web, an
 * offset within its data file, a digest libcrypto can finish (from the loaded state, and by
 * rereading the data in the other algorithm), and it saves and opens again to the same state.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "blobd.h"
#include "fuzz.h"
#include "names.h"
#include "util.h"

struct blobd bd;

#define ID "0123456789abcdef0123456789abcdef"
#define REPOSITORY "acme/web"
/* the sessions of the corpus were made without a grant's binding (older ones) */
static const struct actor_grant no_grant = { 0, 0 };
#define DATA_SIZE (64 * 1024) /* bytes of the data file (sparse) */
#define REHASH_MAX 4096       /* reread the data in the other algorithm up to this offset */

static char *state_path, *data_path;

/* The digest of an open session, in its algorithm and (for a short one) in the other. */
static void
check_digests(struct session *s, char out[DIGEST_STR_MAX])
{
	char *cause = NULL;
	if (session_digest(s, s->algo, out, &cause) < 0 || !name_valid_digest(out))
		fuzz_fail("no digest from a session that opened: %s", cause);
	if (s->offset > REHASH_MAX)
		return;
	char other[DIGEST_STR_MAX];
	enum digest_algo algo = s->algo == DIGEST_SHA256 ? DIGEST_SHA512 : DIGEST_SHA256;
	if (session_digest(s, algo, other, &cause) < 0 || !name_valid_digest(other))
		fuzz_fail("no digest from rereading a session's data: %s", cause);
}

/* Opens the session as blobd does; checks and round-trips one that opens. */
static void
open_session(bool lock)
{
	struct session *s;
	enum session_status st = session_open(ID, REPOSITORY, &no_grant, lock, &s);
	if (st != SESSION_OK) {
		if (s != NULL || (st != SESSION_UNKNOWN && st != SESSION_ERROR))
			fuzz_fail("session_open answered %d", st);
		return;
	}
	if (strcmp(s->repository, REPOSITORY) != 0 || s->offset < 0 || s->offset > DATA_SIZE ||
	    (s->algo != DIGEST_SHA256 && s->algo != DIGEST_SHA512) || s->saved != s->offset)
		fuzz_fail("a session of %s at %lld opened", s->repository, (long long)s->offset);
	char first[DIGEST_STR_MAX];
	check_digests(s, first);
	char *cause = NULL;
	if (session_save(s, false, &cause) < 0)
		fuzz_fail("cannot save the session: %s", cause);
	struct session *again;
	if (session_open(ID, REPOSITORY, &no_grant, false, &again) != SESSION_OK)
		fuzz_fail("a session saved does not open again");
	char second[DIGEST_STR_MAX];
	check_digests(again, second);
	if (again->offset != s->offset || again->algo != s->algo ||
	    again->started_at != s->started_at || strcmp(first, second) != 0)
		fuzz_fail("a session saved opens again otherwise");
	session_close(again);
	session_close(s);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char *root = xasprintf("%s/storage", fuzz_dir());
	char *uploads = xasprintf("%s/uploads", root);
	char *dir = xasprintf("%s/%s", uploads, ID);
	if (mkdir(root, 0700) < 0 || mkdir(uploads, 0700) < 0 || mkdir(dir, 0700) < 0)
		fuzz_fail("cannot make %s", dir);
	bd.root = root;
	bd.fsync = false;
	state_path = xasprintf("%s/state", dir);
	data_path = xasprintf("%s/data", dir);
	free(uploads);
	free(dir);
	(void)argc;
	(void)argv;
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int fd = open(data_path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0 || ftruncate(fd, DATA_SIZE) < 0)
		fuzz_fail("cannot make %s", data_path);
	close(fd);
	fd = open(state_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || write_all(fd, data, size) < 0)
		fuzz_fail("cannot write %s", state_path);
	close(fd);
	open_session(false);
	open_session(true);
	return 0;
}
