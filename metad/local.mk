sbin_PROGRAMS += registry-metad
registry_metad_SOURCES = \
	metad/metad.h \
	metad/main.c \
	metad/api_tenancy.c \
	metad/api_groups.c \
	metad/api_projects.c \
	metad/api_members.c \
	metad/api_namespaces.c \
	metad/api_shares.c \
	metad/api_audit.c \
	metad/manifest.c metad/manifest.h \
	metad/v2params.c \
	metad/manifests.c \
	metad/tags.c \
	metad/tags_cache.c \
	metad/referrers.c \
	metad/catalog.c \
	metad/internal_blobs.c \
	metad/internal_gc.c \
	metad/internal_uploads.c \
	metad/gc.c \
	metad/api_registry.c \
	metad/api_registry_repos.c \
	metad/api_registry_tags.c \
	metad/api_registry_policy.c \
	metad/api_registry_protection.c \
	metad/registry_cleanup.c \
	metad/registry_jobs.c \
	metad/api_hooks.c \
	metad/notify.c \
	metad/hooks_net.c \
	metad/hooks_deliver.c
registry_metad_LDADD = common/libschema.a $(COMMON_LIBS) $(LIBCURL_LIBS) -lpthread
