#!/bin/sh
# The libraries as configure sees them: one line per pkg-config module that configure.ac checks
# (each PKG_CHECK_MODULES), with its installed version, or "-" when it is missing. configure
# records this in config.libs; deploy/build-tree configures again when the answer changes.
#
#   build-aux/lib-versions.sh CONFIGURE_AC [PKG_CONFIG]
set -eu
pc=${2:-pkg-config}
sed -n 's/^[[:space:]]*PKG_CHECK_MODULES(\[[A-Za-z0-9_]*\],[[:space:]]*\[\([^] ]*\).*/\1/p' "$1" |
while read -r module; do
	printf '%s %s\n' "$module" "$("$pc" --modversion "$module" 2>/dev/null || echo -)"
done
