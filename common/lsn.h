/*
 * PostgreSQL WAL positions (LSNs) as the registry passes them around: the position a write
 * reached, carried by the client so that its next read waits for a replica to have replayed it
 * (common/pgread.h). The text form is PostgreSQL's own ("16/B374D848": two hex numbers of at most
 * eight digits). No libpq here: the gateway, which has no database, reads and compares them too.
 */
#ifndef REGISTRY_LSN_H
#define REGISTRY_LSN_H

#include <stdbool.h>
#include <stdint.h>

/* Room for the text form and its NUL. */
#define LSN_TEXT_MAX 18

/* Reads PostgreSQL's text form; false (and *out untouched) for anything else. */
bool lsn_parse(const char *s, uint64_t *out);
/* Writes the text form of lsn into buf (LSN_TEXT_MAX bytes); returns buf. */
char *lsn_format(uint64_t lsn, char *buf);

#endif
