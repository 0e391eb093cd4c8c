# common/: the library every daemon links: supervisor, HTTP server and client, configuration,
# logging, PostgreSQL, tokens, names.
noinst_LIBRARIES += common/libcommon.a
common_libcommon_a_SOURCES = \
	common/actor.c common/actor.h \
	common/cfg.c common/cfg.h \
	common/notify_cfg.c common/notify_cfg.h \
	common/digest.c common/digest.h \
	common/errors.c common/errors.h \
	common/gitlab.c common/gitlab.h \
	common/gl_params.c common/gl_params.h \
	common/headers.c common/headers.h \
	common/http.h common/http_internal.h \
	common/http_pace.c common/http_server.c common/http_splice.c common/http_txn.c \
	common/httpc.c common/httpc.h \
	common/jobs.c common/jobs.h \
	common/json.c common/json.h \
	common/log.c common/log.h \
	common/lsn.c common/lsn.h \
	common/metrics.c common/metrics.h \
	common/multipart.c common/multipart.h \
	common/names.c common/names.h \
	common/pg.c common/pg.h \
	common/pgread.c common/pgread.h \
	common/privsep.c common/privsep.h \
	common/heap.c common/heap.h common/proc.c common/proc.h \
	common/range.c common/range.h \
	common/rest.c common/rest.h common/rest_params.c \
	common/rest_db.c common/rest_db.h \
	common/router.c common/router.h \
	common/routes.c common/routes.h common/routes.def \
	common/service.c common/service.h \
	common/status.c common/status.h common/status.def \
	common/service_db.c \
	common/token.c common/token.h \
	common/url.c common/url.h \
	common/util.c common/util.h \
	common/v2path.c common/v2path.h \
	common/v2reply.c common/v2reply.h \
	common/wire.h

# The database schema (schema/), embedded only in the daemons that own the database (authd, metad),
# so a binary carries exactly the schema it was built for.
noinst_LIBRARIES += common/libschema.a
common_libschema_a_SOURCES = common/schema.c common/schema.h
nodist_common_libschema_a_SOURCES = common/schema_sql.c
SCHEMA_MIGRATIONS = $(sort $(wildcard $(srcdir)/schema/migrations/*.sql))
SCHEMA_FUNCTIONS = $(sort $(wildcard $(srcdir)/schema/functions/*.sql))
SCHEMA_GRANTS = $(srcdir)/schema/grants.sql
common/schema_sql.c: $(SCHEMA_MIGRATIONS) $(SCHEMA_FUNCTIONS) $(SCHEMA_GRANTS) \
                     $(srcdir)/build-aux/embed-schema.sh
	$(AM_V_GEN)$(SHELL) $(srcdir)/build-aux/embed-schema.sh $(SCHEMA_MIGRATIONS) -- \
	    $(SCHEMA_FUNCTIONS) -- $(SCHEMA_GRANTS) > $@.tmp && mv $@.tmp $@
CLEANFILES += common/schema_sql.c
EXTRA_DIST += build-aux/embed-schema.sh $(SCHEMA_MIGRATIONS) $(SCHEMA_FUNCTIONS) $(SCHEMA_GRANTS)
