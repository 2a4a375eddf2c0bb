#!/usr/bin/env bash
# Installs what a fresh Debian machine lacks to build and test ProxyReplacement:
# clang (BPF target), libbpf headers and library, bpftool, iproute2, the benchmark tools (iptables for the
# kube-proxy baseline, wrk and iperf3 for the end-to-end rates), ethtool (a traffic test turns checksum
# offload off on a test veth), what the chart and image tests use (Go with sprig and sigs.k8s.io/yaml to render the
# chart; podman with runc and debootstrap to build and run the image) and the .NET SDK check.
# Idempotent: installs only missing packages, and only runs apt-get update when it must.
set -euo pipefail

packages=(clang llvm libbpf-dev libbpf1 bpftool iproute2 linux-libc-dev make iptables wrk iperf3 ethtool
  golang-go golang-github-masterminds-sprig-dev golang-k8s-sigs-yaml-dev podman runc debootstrap)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}"
  if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps: need root to apt-get install ${missing[*]}" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v dotnet >/dev/null; then
  echo "install-deps: the .NET 10 SDK (dotnet) is required and not on PATH" >&2
  exit 1
fi
