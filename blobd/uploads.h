/*
 * What the two halves of blob uploads share: uploads.c (the requests, sessions on the disk,
 * finishing) and uploads_s3.c (sessions in S3 and the database, storage = s3).
 */
#ifndef REGISTRY_BLOBD_UPLOADS_H
#define REGISTRY_BLOBD_UPLOADS_H

#include <stdbool.h>

#include "blobd.h"

enum upload_op { OP_POST, OP_PATCH, OP_PUT, OP_STATUS, OP_CANCEL };

struct upload_req {
	struct http_txn *txn;
	enum upload_op op;
	char *name;
	char *id;                 /* the session id in the URL; NULL for POST */
	char *digest;             /* ?digest= */
	char *mount;              /* ?mount= */
	char *from;               /* ?from= */
	struct actor_grant grant; /* what the token's push was granted on */
	struct session *s;
	/* finishing (pool thread results) */
	bool verified;
	char computed[DIGEST_STR_MAX];
	char *cause;
	int err; /* errno of the failure cause tells */
	/* storage = s3: the PUT's digest is in another algorithm than the session's (read the
	 * bytes back), and it did not match */
	bool rehash;
	bool mismatch;
	int hold_tries; /* asked again for a session another request held */
	/* linking again while the digest's file is being deleted (garbage collection) */
	struct event *relink;
	int link_attempts;
};

/* uploads.c */
/* Frees an upload request (not its session). */
void upload_req_free(struct upload_req *u);
/* Answers status with where the session stands. */
void upload_respond_progress(struct http_txn *txn, int status, const char *name,
                             const struct session *s);
/* A failure to store: 507 when the storage is full (err ENOSPC or EDQUOT), else 500 what. */
void upload_respond_store_failure(struct http_txn *txn, int err, const char *what);
/* Answers a session that could not be opened. */
void upload_respond_session_status(struct http_txn *txn, enum session_status st);
/* Checks a chunk's Content-Range against the session (expect: its length, -1 without one); -1
 * after answering 416 or 400. */
int upload_check_range(struct upload_req *u, int64_t *expect);
/* PATCH: checks the chunk against the session and streams it in. */
void upload_handle_patch(struct upload_req *u);
/* PUT: streams the optional last chunk in, then verifies and stores. */
void upload_handle_put(struct upload_req *u);
/* In the loop after a cancelled session is removed: 204. */
void upload_cancelled(void *arg);
/* Pool thread: removes the session (and closes it). */
void upload_job_destroy(void *arg);
/* Pool thread: the final digest; on a match, fsync and put the file in place. */
void upload_job_finish(void *arg);
/* In the loop after upload_job_finish(): answer, or have metad link the blob. */
void upload_finished(void *arg);

/* uploads_s3.c */
/* POST of a session in S3: its multipart upload, then its row. */
void upload_remote_create(struct upload_req *u);
/* A request on a session in S3: its row first. */
void upload_remote_resume(struct upload_req *u);
/* A PATCH's (or a PUT's) body is in: its last parts go, under a renewed hold when it is due. */
void upload_remote_send(struct upload_req *u);
/* A PUT's bytes are in: the digest, then the blob's object. */
void upload_remote_put(struct upload_req *u);
/* The session has served its purpose: its files, or its row and objects, go. */
void upload_drop_session(struct session *s);

#endif
