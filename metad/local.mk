sbin_PROGRAMS += registry-metad
registry_metad_SOURCES = \
	metad/metad.h \
	metad/main.c
registry_metad_LDADD = $(COMMON_LIBS) $(PCRE2_LIBS)
