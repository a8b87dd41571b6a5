#!/usr/bin/env bash
# Unpacks Debian's Node.js 18 (what the device images run) into a private folder beside the
# machine's Node 20, without replacing it, and prints the path of a node 18 launcher. Beside it,
# `npm` runs npm 10 (the npm line Node 18 ships with; npm 11 refuses Node 18) under that node.
# Idempotent: a second run only prints the path. Needs root for apt-get on the first run.
# Usage: scripts/node18.sh [folder]   (default: $EDGEML_NODE18_DIR or /tmp/edgeml-node18)
set -euo pipefail

dir="${1:-${EDGEML_NODE18_DIR:-/tmp/edgeml-node18}}"
dir="${dir%/}"
NPM_VERSION=10.8.2 # bundled with the last Node 18 release

if [ -x "$dir/node" ] && [ -x "$dir/npm" ] && "$dir/node" --version 2>/dev/null | grep -q '^v18\.' \
  && "$dir/npm" --version 2>/dev/null | grep -qx "$NPM_VERSION"; then
  echo "$dir/node"
  exit 0
fi

export DEBIAN_FRONTEND=noninteractive
arch_dir="$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || echo "$(uname -m)-linux-gnu")"

# libnode108 links against these system libraries; Debian's node also loads its bundled JS
# modules (acorn, cjs-module-lexer, undici) from /usr/share/nodejs.
need=()
for pkg in libc-ares2 node-acorn node-cjs-module-lexer node-undici; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || need+=("$pkg")
done
updated=0
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq >&2
  updated=1
  apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
fi

# The newest 18.x Debian offers (the exact version moves with security updates).
node18_version() {
  apt-cache madison nodejs 2>/dev/null | awk -F'|' '{gsub(/ /, "", $2); print $2}' | grep '^18\.' | sort -V | tail -n1 || true
}
version="$(node18_version)"
if [ -z "$version" ] && [ "$updated" = 0 ]; then
  apt-get update -qq >&2
  version="$(node18_version)"
fi
if [ -z "$version" ]; then
  echo "node18.sh: no nodejs 18.x package in the apt sources" >&2
  exit 1
fi

work="$(mktemp -d "$dir.XXXXXX")"
trap 'rm -rf "$work"' EXIT
chmod 777 "$work" # apt-get download runs as _apt and must write here
(cd "$work" && apt-get download -qq "nodejs=$version" "libnode108=$version" >&2)
mkdir -p "$work/root"
for deb in "$work"/nodejs_*.deb "$work"/libnode108_*.deb; do dpkg -x "$deb" "$work/root"; done
# npm from the registry (its tarball bundles its own dependencies).
(cd "$work" && npm pack --silent "npm@$NPM_VERSION" >/dev/null)
tar -xzf "$work/npm-$NPM_VERSION.tgz" -C "$work"

rm -rf "$dir"
mkdir -p "$dir"
mv "$work/root" "$dir/root"
mv "$work/package" "$dir/npm-cli"
cat > "$dir/node" <<LAUNCH
#!/bin/sh
# Node.js $version unpacked from Debian's packages (scripts/node18.sh)
LD_LIBRARY_PATH="$dir/root/usr/lib/$arch_dir\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}" exec "$dir/root/usr/bin/node" "\$@"
LAUNCH
cat > "$dir/npm" <<LAUNCH
#!/bin/sh
# npm $NPM_VERSION under Node.js $version; this folder goes first on PATH so that install
# scripts run under Node 18 as well.
PATH="$dir:\$PATH" exec "$dir/node" "$dir/npm-cli/bin/npm-cli.js" "\$@"
LAUNCH
chmod 755 "$dir/node" "$dir/npm"
echo "node18.sh: node $("$dir/node" --version), npm $("$dir/npm" --version) in $dir" >&2
echo "$dir/node"
