sbin_PROGRAMS += registry-gateway
registry_gateway_SOURCES = \
	gateway/gateway.h \
	gateway/api.c \
	gateway/fence.c \
	gateway/forwarded.c \
	gateway/main.c \
	gateway/proxy.c \
	gateway/route.c \
	gateway/static.c \
	gateway/status.c \
	gateway/tokencache.c \
	gateway/v2auth.c
registry_gateway_LDADD = $(COMMON_LIBS) $(ZLIB_LIBS)
