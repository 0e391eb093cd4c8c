/*
 * The parameters of a GitLab API request, read the way GitLab (Rack and Grape) takes them: the
 * query string, then the body by its Content-Type, merged into one JSON object. authd and metad
 * both read their parameters here.
 */
#ifndef REGISTRY_GL_PARAMS_H
#define REGISTRY_GL_PARAMS_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>

struct http_txn;

/* A JSON or form body, and what is kept of a multipart one (names and text values). */
#define GL_PARAMS_MAX_BODY (64 * 1024)
/* A whole multipart body: file parts (avatars, which GitLab caps at 200 KiB) are read and
 * dropped as they stream, so only this bounds them. */
#define GL_PARAMS_MAX_UPLOAD (1024 * 1024)
#define GL_PARAMS_MAX_PARTS 128
#define GL_PARAMS_MAX_PART_HEADER (8 * 1024)

/* params belongs to the reader: json_object_get() keeps it past the call. */
typedef void (*gl_params_cb)(struct http_txn *txn, json_object *params, void *arg);

/*
 * Reads the query string and the body (a JSON object, a URL-encoded form, or multipart/form-data
 * whose text parts are parameters and whose file parts are dropped; without a Content-Type, JSON
 * when it starts with '{', else a form) into one object: the body wins over the query, a
 * repeated name takes its last value, and "name[]" collects a list. Every name and string value
 * must be UTF-8 text without NUL. A sudo parameter in the body must name what the query or the
 * Sudo header does: the gateway applies only those.
 *
 * done runs once, from the event loop or before this returns. When the parameters cannot be
 * read, GitLab's error is answered (400, 413, 415) and done gets NULL for txn and params, as it
 * does when the client leaves: then it only frees what the request holds.
 */
void gl_params_read(struct http_txn *txn, gl_params_cb done, void *arg);
/* Whether len bytes of s are UTF-8 text without NUL, as PostgreSQL's text takes them. */
bool gl_params_is_text(const char *s, size_t len);

#endif
