/* What every /v2 answer of the backends (metad, blobd) carries: Docker's API version header, and
 * OCI error bodies with a detail. */
#ifndef REGISTRY_V2REPLY_H
#define REGISTRY_V2REPLY_H

struct http_headers;
struct http_txn;

/* Starts the headers of a /v2 answer with Docker-Distribution-API-Version. */
void v2reply_headers_init(struct http_headers *h);
/* Answers status with one OCI error; message NULL takes the code's own, detail may be NULL. */
void v2reply_error(struct http_txn *txn, int status, const char *code, const char *message,
                   const char *detail);

#endif
