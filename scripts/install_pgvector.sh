#!/usr/bin/env bash
# Installs pgvector (optional for raid) from Debian's source package when the
# server does not have it yet.  Debian 12 ships no binary package, so this
# borrows the newer release's source package: it adds a temporary deb-src
# line derived from this machine's own Debian mirror, fetches the source,
# removes the line again, and builds it with PGXS.  Run as root.
set -euo pipefail
PG_CONFIG=${PG_CONFIG:-pg_config}
share=$($PG_CONFIG --sharedir)
if [ -f "$share/extension/vector.control" ]; then
    echo "pgvector is already installed"
    exit 0
fi
release=${PGVECTOR_RELEASE:-trixie}
sources=/etc/apt/sources.list.d/debian.sources
uri=$(awk '/^URIs:/ {print $2; exit}' "$sources" 2>/dev/null || true)
if [ -z "$uri" ]; then
    echo "cannot find this machine's Debian mirror in $sources" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
dpkg-query -W -f='${Status}' dpkg-dev 2>/dev/null | grep -q "install ok installed" ||
    apt-get install -y -q dpkg-dev >/dev/null
list=/etc/apt/sources.list.d/raid-pgvector-src.sources
work=$(mktemp -d)
trap 'rm -f "$list"; rm -rf "$work"' EXIT
printf 'Types: deb-src\nURIs: %s\nSuites: %s\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
    "$uri" "$release" >"$list"
apt-get update -q >/dev/null
(cd "$work" && apt-get source -q pgvector >/dev/null 2>&1)
rm -f "$list"
dir=$(find "$work" -maxdepth 1 -type d -name 'pgvector-*' | head -1)
[ -n "$dir" ] || { echo "could not fetch pgvector's source package" >&2; exit 1; }
make -s -C "$dir" with_llvm=no PG_CONFIG="$PG_CONFIG" >/dev/null
make -s -C "$dir" with_llvm=no PG_CONFIG="$PG_CONFIG" install >/dev/null
echo "installed $(basename "$dir")"
