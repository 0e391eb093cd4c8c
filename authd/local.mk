sbin_PROGRAMS += registry-authd
registry_authd_SOURCES = \
	authd/authd.h \
	authd/access.c \
	authd/bootstrap.c \
	authd/cred.c \
	authd/deploy.c \
	authd/hash.c \
	authd/imptokens.c \
	authd/internal.c \
	authd/jwt.c \
	authd/main.c \
	authd/memberships.c \
	authd/oauth.c \
	authd/pats.c \
	authd/ratelimit.c \
	authd/restokens.c \
	authd/secret.c \
	authd/user_status.c \
	authd/users.c
registry_authd_LDADD = common/libschema.a $(COMMON_LIBS) -lpthread
