/*
 * The REST layer's database side (authd and metad): a request's SQL arguments, running them,
 * the one answer to a failed query, the write functions' status words as answers, and list
 * pages. Kept apart from rest.h so that a daemon without a database (blobd) needs no libpq.
 */
#ifndef REGISTRY_REST_DB_H
#define REGISTRY_REST_DB_H

#include <json-c/json.h>
#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>

#include "pg.h"
#include "rest.h"
#include "status.h"

struct pgread;

/* The JSON of column col of row (a function's json result); NULL when it is NULL. */
json_object *rest_column_json(const PGresult *res, int row, const char *col);
/* The pool rest_exec() runs on: the worker's (once per worker). */
void rest_db_use(struct pg_pool *db);
/* The worker's replica (NULL: none): rest_exec() then runs a PG_STMT_READ statement of a GET or
 * HEAD there, at the WAL position the request carries (X-Registry-Read-Lsn), and answers every
 * other request that wrote with the position it reached (X-Registry-Lsn). */
void rest_db_use_read(struct pgread *read);

/* SQL arguments, in order. */
void rest_arg(struct rest_req *r, const char *v);
void rest_arg_i64(struct rest_req *r, int64_t v);
void rest_arg_bool(struct rest_req *r, bool v);
/* v when given, else NULL: an optional number. */
void rest_arg_i64_opt(struct rest_req *r, bool given, int64_t v);
/* The caller: its user id (0: anonymous) and whether it is an admin. */
void rest_arg_actor(struct rest_req *r);
/* Adds what the caller's /v2 grant was made on (project id and path generation: two bigints),
 * for registry_grant_repository_id() and registry_grant_path(), which refuse a path that has
 * changed hands since (SQLSTATE REST_STALE_GRANT, answered by rest_db_error). */
void rest_arg_grant(struct rest_req *r);
/* The same for a statement run with pg_exec: the two values as text. */
struct rest_grant_text {
	char project_id[24], generation[24];
};
void rest_grant_text(const struct actor_grant *g, struct rest_grant_text *out);
/* The SQLSTATE registry_grant_check() raises. */
#define REST_STALE_GRANT "RG401"
/* An ":id" as two arguments: the number, or the full path (NULL when it is not text). */
void rest_arg_ref(struct rest_req *r, const char *ref);
/* The page's LIMIT and OFFSET. */
void rest_arg_page(struct rest_req *r);
/* A gl_param_bool() value as an argument's text: "true", "false", or NULL when absent. */
const char *rest_bool_arg(int b);
/* Runs stmt with the arguments (then cleared); cb gets arg. With a replica (rest_db_use_read):
 * a PG_STMT_READ statement of a GET or HEAD may run there, and any statement of another method
 * runs on the primary and its answer carries the WAL position it reached. */
void rest_exec(struct rest_req *r, struct pg_stmt *stmt, pg_cb cb, void *arg);
/* The same with parameters assembled by the caller (pg_exec's), for the request r. */
void rest_exec_values(struct rest_req *r, struct pg_stmt *stmt, int nparams,
                      const char *const *values, pg_cb cb, void *arg);
/* The same with lengths and formats (pg_exec_params'), for binary parameters. */
void rest_exec_params(struct rest_req *r, struct pg_stmt *stmt, int nparams,
                      const char *const *values, const int *lengths, const int *formats, pg_cb cb,
                      void *arg);

/* The answer to a failed query (res NULL: the database is unreachable), logged, in the row's
 * dialect: GitLab's 500 (503 unreachable), or OCI's 503 UNAVAILABLE with Retry-After. */
void rest_db_error(struct rest_req *r, const PGresult *res);
/* The status word of a write function's one-row result (its column "status"); STATUS_NONE once
 * answered: the query failed, or named a word status.def lacks (500). */
enum status_word rest_status(struct rest_req *r, const PGresult *res);
/* Whether a page query's status word (the "status" column of its first row, each row carrying
 * it) is ok; false once answered: the query failed, or the word's refusal. */
bool rest_page_status_ok(struct rest_req *r, const PGresult *res);
/* Answers a word as status.def says, quoting the result's "detail" column where the text has
 * "%s": an OCI error for a /v2 word, GitLab's model validation for a word about a field,
 * GitLab's {"message"} otherwise; nothing for STATUS_NONE (answered already). A handler answers
 * STATUS_ok, and the words its endpoint words otherwise, itself; this the rest. */
void rest_status_answer(struct rest_req *r, const PGresult *res, enum status_word w);
/* Answers a word's GitLab message put in frame, where "%s" stands for it ("Transfer failed: %s"):
 * the shape some endpoints give their refusals. */
void rest_status_framed(struct rest_req *r, const PGresult *res, enum status_word w,
                        const char *frame);
/* Whether a read query found its row; false once answered: the query failed, or 404 "<what>
 * Not Found" (what NULL: r->what). */
bool rest_found(struct rest_req *r, const PGresult *res, const char *what);
/* Whether a list query's result may be shown: a row came back and its "ok" column, when it has
 * one, says the list's source may be seen. false once answered (the query failed, or 404). */
bool rest_list_ok(struct rest_req *r, const PGresult *res);
/* One item of a list answer, from a row of a list query. */
typedef json_object *(*rest_row_fn)(struct rest_req *r, const PGresult *res, int row);
/* Answers a page of a list query: its rows carry "total" (and maybe "ok") and items whose "id"
 * is NULL when the page is empty; build makes one item. */
void rest_reply_list(struct rest_req *r, const PGresult *res, rest_row_fn build);

#endif
