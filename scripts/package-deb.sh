#!/usr/bin/env bash
# Builds the Debian package: target/debian/guichet_<version>_<arch>.deb
#
#   scripts/package-deb.sh                 # builds the release binary first
#   scripts/package-deb.sh --binary PATH   # packages an already built binary
#
# dpkg-deb (Debian's own tool, always present) assembles the package from
# the files below; cargo-deb would do the same from a build that must first
# be installed, and its only extra, library dependencies, is one line here.
set -euo pipefail
cd "$(dirname "$0")/.."

binary=""
if [ "${1:-}" = "--binary" ]; then
  binary="$2"
else
  cargo build --release --locked --bin guichet
  binary=target/release/guichet
fi
[ -x "$binary" ] || { echo "error: no executable at $binary" >&2; exit 1; }

version=$("$binary" --version | awk '{print $2}')
arch=$(dpkg --print-architecture)
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
root="$stage/guichet_${version}_${arch}"

mkdir -p target/debian
# The installed binary without its debug tables (function names stay, for
# backtraces); the tables go to a .debug file kept beside the package, which
# gdb and addr2line find through the binary's debuglink.
debug_file="target/debian/guichet_${version}_${arch}.debug"
objcopy --only-keep-debug "$binary" "$debug_file"
install -D -m 0755 "$binary" "$root/usr/bin/guichet"
objcopy --strip-debug --add-gnu-debuglink="$debug_file" "$root/usr/bin/guichet"
install -D -m 0644 packaging/guichet.service "$root/lib/systemd/system/guichet.service"
install -D -m 0640 packaging/guichet.toml "$root/etc/guichet/guichet.toml"
install -D -m 0644 README.md "$root/usr/share/doc/guichet/README.md"
printf 'Guichet\nLicense: AGPL-3.0-or-later\n' > "$root/usr/share/doc/guichet/copyright"
for doc in docs/*.md docs/grafana-dashboard.json; do
  install -D -m 0644 "$doc" "$root/usr/share/doc/guichet/$doc"
done
install -d "$root/DEBIAN"
install -m 0755 packaging/debian/postinst packaging/debian/prerm packaging/debian/postrm "$root/DEBIAN/"
echo /etc/guichet/guichet.toml > "$root/DEBIAN/conffiles"
size=$(du -sk "$root" | cut -f1)
cat > "$root/DEBIAN/control" <<CONTROL
Package: guichet
Version: $version
Architecture: $arch
Maintainer: Guichet <guichet@localhost>
Installed-Size: $size
Depends: libc6 (>= 2.34), adduser
Recommends: postgresql-client
Section: web
Priority: optional
Homepage: https://guichet.localhost/
Description: service desk for school digital workspaces (ENT)
 Guichet takes the requests of school administrators by web, mail and the
 ENT's HELP button, and lets a level-1 desk and a level-2 team answer them,
 with service levels, major incidents, reports and search. One binary, with
 an embedded SQLite database or several nodes on PostgreSQL.
CONTROL

out="target/debian/guichet_${version}_${arch}.deb"
dpkg-deb --root-owner-group --build "$root" "$out" >/dev/null
echo "$out"
echo "package-deb: binary $(du -h "$binary" | cut -f1) before, $(du -h "$root/usr/bin/guichet" | cut -f1) installed; debug tables in $debug_file" >&2
