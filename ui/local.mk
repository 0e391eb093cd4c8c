# The web interface (docs/UI.md): plain files, no build step, installed as they are into
# $(pkgdatadir)/ui, the gateway's default [gateway] ui_dir; it compresses them when it starts.
uidir = $(pkgdatadir)/ui
dist_ui_DATA = \
	ui/index.html \
	ui/api.js \
	ui/app.js \
	ui/dom.js \
	ui/common.js \
	ui/home.js \
	ui/registry.js \
	ui/tags.js \
	ui/settings.js \
	ui/access.js \
	ui/admin.js \
	ui/v2.js \
	ui/style.css \
	ui/favicon.svg
