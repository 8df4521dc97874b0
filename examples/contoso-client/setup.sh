#!/bin/sh
# Sample client build installer: copies the client into /opt/contoso/<version>.
# The agent runs it as a system service; the person at the machine needs no admin rights.
set -eu
version=5.0.1
prefix=${CONTOSO_PREFIX:-/opt/contoso}
case "${1:-}" in
  --uninstall) rm -rf "$prefix/$version"; exit 0 ;;
  --quiet|"") ;;
  *) echo "usage: setup.sh [--quiet|--uninstall]" >&2; exit 2 ;;
esac
here=$(dirname "$0")
mkdir -p "$prefix/$version/bin"
cp "$here/bin/client" "$prefix/$version/bin/client"
chmod 0755 "$prefix/$version/bin/client"
