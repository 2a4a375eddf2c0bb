#!/usr/bin/env bash
# Prints the path of a Debian root filesystem tarball made with debootstrap (--variant=minbase) from this
# machine's own Debian mirror: the local stand-in for the public base images no registry can give us here.
#
#   scripts/image-base.sh [--include PKG,PKG...]
#
# Cached under $PR_IMAGE_CACHE (default /var/cache/proxy-replacement/debootstrap), keyed by mirror, suite,
# architecture and the package list, so only the first run pays the ~40-90 s of debootstrap. A cache entry
# is written under a temporary name and renamed in when complete, so a killed run never leaves a partial
# base behind; entries older than $PR_IMAGE_CACHE_DAYS (default 7) are rebuilt to pick up security updates.
set -euo pipefail

suite=bookworm
include=""
while (($#)); do
  case "$1" in
    --include) include=$2; shift 2 ;;
    --suite) suite=$2; shift 2 ;;
    *) echo "image-base: unknown argument $1" >&2; exit 2 ;;
  esac
done

# The machine's Debian mirror: the first deb.debian.org-style URI of the main archive in its apt sources.
shopt -s nullglob
sources=(/etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list)
shopt -u nullglob
[ -f /etc/apt/sources.list ] && sources=(/etc/apt/sources.list "${sources[@]}")
mirror=$(cat "${sources[@]}" 2>/dev/null |
  awk '
    /^deb / && $2 ~ /^https?:\/\// && $2 !~ /security/ && $3 ~ /^(bookworm|trixie|bullseye)$/ { print $2; exit }
    /^URIs:/ { uri = $2 }
    /^Suites:/ && uri != "" && uri !~ /security/ { print uri; exit }
  ')
[ -n "$mirror" ] || { echo "image-base: no Debian mirror found in /etc/apt/sources.list*" >&2; exit 1; }
arch=$(dpkg --print-architecture)

cache="${PR_IMAGE_CACHE:-/var/cache/proxy-replacement/debootstrap}"
key=$(printf '%s %s %s minbase %s' "$mirror" "$suite" "$arch" "$include" | sha256sum | cut -c1-16)
tarball="$cache/$suite-$arch-$key.tar"
max_age_days="${PR_IMAGE_CACHE_DAYS:-7}"

if [ -s "$tarball" ] && [ -z "$(find "$tarball" -mtime +"$max_age_days" 2>/dev/null)" ]; then
  echo "$tarball"
  exit 0
fi

command -v debootstrap >/dev/null || { echo "image-base: debootstrap is missing (scripts/install-deps.sh installs it)" >&2; exit 1; }
mkdir -p "$cache"
work=$(mktemp -d "$cache/.build-XXXXXX")
cleanup() {
  # debootstrap can leave proc (and sys) mounted inside the new root when it stops: unmount before deleting.
  local m
  while read -r m; do umount -l "$m" 2>/dev/null || true; done < <(awk -v p="$work/" 'index($2, p) == 1 { print $2 }' /proc/self/mounts | sort -r)
  rm -rf "$work"
}
trap cleanup EXIT

echo "image-base: debootstrap --variant=minbase $suite from $mirror${include:+ with $include} (cached as $tarball)" >&2
started=$SECONDS
debootstrap --variant=minbase ${include:+--include="$include"} "$suite" "$work/root" "$mirror" >"$work/debootstrap.log" 2>&1 || {
  tail -n 30 "$work/debootstrap.log" >&2
  exit 1
}
while read -r m; do umount -l "$m" 2>/dev/null || true; done < <(awk -v p="$work/root/" 'index($2, p) == 1 { print $2 }' /proc/self/mounts | sort -r)
# Smaller and reproducible enough: no package lists or apt caches in the base.
rm -rf "$work/root/var/lib/apt/lists/"* "$work/root/var/cache/apt/"*.bin "$work/root/var/cache/apt/archives/"*.deb
tar --numeric-owner -C "$work/root" -cf "$work/base.tar" .
mv "$work/base.tar" "$tarball"
echo "image-base: built in $((SECONDS - started)) s" >&2
echo "$tarball"
