sbin_PROGRAMS += registry-blobd
registry_blobd_SOURCES = \
	blobd/blobd.h \
	blobd/main.c
registry_blobd_LDADD = $(COMMON_LIBS)
