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
	metad/registry.h \
	metad/manifest.c metad/manifest.h \
	metad/v2.c \
	metad/v2_manifests.c \
	metad/v2_tags.c \
	metad/v2_referrers.c \
	metad/v2_catalog.c \
	metad/internal_blobs.c
registry_metad_LDADD = $(COMMON_LIBS) $(PCRE2_LIBS)
