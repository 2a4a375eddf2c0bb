#!/usr/bin/env bash
# Builds the Dockerfile with podman from local bases, where no registry can give us the public ones:
#
#   scripts/image-build.sh [--tag NAME] [--save FILE.tar]
#
#   - a build base: debootstrap bookworm minbase with clang, libbpf-dev and what the .NET SDK needs (for the
#     bpf stage, whose apt-get install then finds everything installed, and under the SDK);
#   - an SDK image: that base with this machine's .NET SDK at /usr/share/dotnet (a read-only volume of every RUN
#     of the build, which is what the SDK stage sees; the publish stage copies the runtime out of it);
#   - a runtime base: debootstrap bookworm minbase (the stand-in for debian:bookworm-slim);
#   then `podman build` of the Dockerfile with those as BPF_BUILDER_IMAGE, SDK_IMAGE and RUNTIME_IMAGE. The
#   debootstrap tarballs are cached (scripts/image-base.sh); restore reads this machine's NuGet cache.
#
# Storage: PR_PODMAN_STATE (scripts/lib/podman.sh), a private podman state directory; when unset, one is made
# under /var/tmp and, with --save, removed at the end (the image leaves only as the archive). Prints the image id.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
. scripts/lib/podman.sh

tag=localhost/proxy-replacement:dev
save=""
while (($#)); do
  case "$1" in
    --tag) tag=$2; shift 2 ;;
    --save) save=$2; shift 2 ;;
    *) echo "image-build: unknown argument $1" >&2; exit 2 ;;
  esac
done

own_state=""
if [ -z "${PR_PODMAN_STATE:-}" ]; then
  PR_PODMAN_STATE=$(mktemp -d /var/tmp/prt-podman-XXXXXX)
  own_state=1
  [ -n "$save" ] || echo "image-build: image kept in the podman state $PR_PODMAN_STATE (podman --root $PR_PODMAN_STATE/storage --runroot $PR_PODMAN_STATE/run images)" >&2
fi
export PR_PODMAN_STATE
pm_init
if [ -n "$own_state" ] && [ -n "$save" ]; then trap pm_teardown EXIT; fi

dotnet_root=$(dirname "$(readlink -f "$(command -v dotnet)")")
[ -x "$dotnet_root/dotnet" ] || { echo "image-build: no .NET SDK found (dotnet on PATH)" >&2; exit 1; }

step() { echo "image-build: [$((SECONDS))s] $*" >&2; }

step "bases (debootstrap, cached)"
build_base=$(bash scripts/image-base.sh --include clang,libbpf-dev,linux-libc-dev,make,ca-certificates,libssl3,libicu72)
runtime_base=$(bash scripts/image-base.sh)

step "podman import of the bases"
pm import --quiet "$build_base" localhost/pr-build-base:bookworm >/dev/null
pm import --quiet "$runtime_base" localhost/pr-runtime-base:bookworm >/dev/null

step "SDK image: the build base with dotnet on PATH ($dotnet_root comes in as a volume, not a copy)"
sdk_context=$(mktemp -d "$PR_PODMAN_STATE/tmp/sdk-XXXXXX")
cat >"$sdk_context/Containerfile" <<'CONTAINERFILE'
FROM localhost/pr-build-base:bookworm
RUN ln -s /usr/share/dotnet/dotnet /usr/bin/dotnet
ENV DOTNET_ROOT=/usr/share/dotnet DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
CONTAINERFILE
pm build --quiet --network none -t localhost/pr-dotnet-sdk:local -f "$sdk_context/Containerfile" "$sdk_context" >/dev/null

step "podman build of the Dockerfile"
nuget_cache="${NUGET_PACKAGES:-${HOME:-/root}/.nuget/packages}"
mkdir -p "$nuget_cache"
revision=$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)
# The host's CA certificates: TLS from the build (NuGet) trusts what the host trusts, whatever its egress does.
pm build --network host --layers=false \
  --volume "$nuget_cache:/root/.nuget/packages" \
  --volume /etc/ssl/certs:/etc/ssl/certs:ro \
  --volume "$dotnet_root:/usr/share/dotnet:ro" \
  --build-arg BPF_BUILDER_IMAGE=localhost/pr-build-base:bookworm \
  --build-arg SDK_IMAGE=localhost/pr-dotnet-sdk:local \
  --build-arg RUNTIME_IMAGE=localhost/pr-runtime-base:bookworm \
  --build-arg REVISION="$revision" \
  --build-arg CREATED="$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
  -t "$tag" -f Dockerfile . >"$PR_PODMAN_STATE/build.log" 2>&1 || {
  tail -n 60 "$PR_PODMAN_STATE/build.log" >&2
  echo "image-build: podman build failed (log above)" >&2
  exit 1
}
pm rmi localhost/pr-dotnet-sdk:local localhost/pr-build-base:bookworm >/dev/null 2>&1 || true
step "built $tag: $(pm image inspect --format '{{.Size}}' "$tag" | awk '{ printf "%.0f MB", $1 / 1e6 }')"

if [ -n "$save" ]; then
  pm save --format docker-archive -o "$save" "$tag" >/dev/null
  step "saved to $save"
fi
pm image inspect --format '{{.Id}}' "$tag"
