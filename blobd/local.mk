sbin_PROGRAMS += registry-blobd
registry_blobd_SOURCES = \
	blobd/blobd.h \
	blobd/main.c \
	blobd/blobs.c \
	blobd/uploads.c \
	blobd/uploads_s3.c \
	blobd/uploads.h \
	blobd/writer.c \
	blobd/session.c \
	blobd/rsession.c \
	blobd/store.c \
	blobd/store_s3.c \
	blobd/zst.c \
	blobd/compress.c \
	blobd/stored.c \
	blobd/zstream.c \
	blobd/tally.c blobd/tally_s3.c \
	blobd/meta.c \
	blobd/purge.c \
	blobd/gc.c \
	blobd/s3.h \
	blobd/s3.c \
	blobd/s3sign.c \
	blobd/s3xml.c
registry_blobd_LDADD = $(COMMON_LIBS) $(LIBCURL_LIBS) -lpthread
