sbin_PROGRAMS += registry-authd
registry_authd_SOURCES = \
	authd/authd.h \
	authd/main.c
registry_authd_LDADD = $(COMMON_LIBS)
