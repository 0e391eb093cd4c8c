# docs/man/: the manual pages `make install` puts under $(mandir). registry.conf(5) is written
# at build time from common/cfg.h (docs/man/cfg-man.c), so its parameters are exactly the
# daemons'; the others are written by hand.
dist_man_MANS = \
	docs/man/registry-gateway.8 \
	docs/man/registry-authd.8 \
	docs/man/registry-metad.8 \
	docs/man/registry-blobd.8 \
	docs/man/registry-local.1
nodist_man_MANS = docs/man/registry.conf.5

# A build tool, not installed: it includes cfg.h and prints the table as roff.
noinst_PROGRAMS += docs/man/cfg-man
docs_man_cfg_man_SOURCES = docs/man/cfg-man.c common/cfg.h

docs/man/registry.conf.5: docs/man/registry.conf.5.in docs/man/cfg-man$(EXEEXT)
	$(AM_V_GEN)$(MKDIR_P) docs/man && \
	    docs/man/cfg-man$(EXEEXT) $(srcdir)/docs/man/registry.conf.5.in > $@.tmp && mv $@.tmp $@
CLEANFILES += docs/man/registry.conf.5
EXTRA_DIST += docs/man/registry.conf.5.in
