sbin_PROGRAMS += registry-metad
registry_metad_SOURCES = \
	metad/metad.h \
	metad/main.c \
	metad/tenancy.h \
	metad/api_tenancy.c \
	metad/api_groups.c \
	metad/api_projects.c \
	metad/api_members.c \
	metad/api_namespaces.c \
	metad/api_shares.c \
	metad/registry.h \
	metad/manifest.c metad/manifest.h \
	metad/v2.c \
	metad/v2_manifests.c \
	metad/v2_tags.c \
	metad/tags_cache.c \
	metad/v2_referrers.c \
	metad/v2_catalog.c \
	metad/internal_blobs.c \
	metad/internal_gc.c \
	metad/gc.c \
	metad/api_registry.h \
	metad/api_registry.c \
	metad/api_registry_repos.c \
	metad/api_registry_tags.c \
	metad/api_registry_policy.c \
	metad/registry_cleanup.c \
	metad/registry_jobs.c
registry_metad_LDADD = common/libschema.a $(COMMON_LIBS)
