#!/usr/bin/env bash
# The ProxyReplacement demo (`make demo`, after `make build`; needs root).
#
# Builds a one-node cluster out of network namespaces:
#
#   prdemo-cli (10.201.1.2) ──veth prdemo-cli──┐
#   prdemo-be1 (10.201.2.2) ──veth prdemo-be1──┤ prdemo-node: routes between pods,
#   prdemo-be2 (10.201.3.2) ──veth prdemo-be2──┤ runs ./bin/service-proxy
#   prdemo-be3 (10.201.4.2) ──veth prdemo-be3──┘
#   prdemo-ext (192.168.77.2) ──veth prdemoup── the node's host interface (192.168.77.1): a client
#                                              outside the cluster, e.g. on the data-centre network
#
# Each backend answers HTTP on :8080 with "hello from backend-N". The daemon reads
# examples/demo/web.yaml (Service web, ClusterIP 10.96.0.10:80 -> the backends' port 8080) from a
# manifest directory, pins its maps on a private bpffs, and attaches its TC program to the node-side
# veths (--workload-interfaces 'prdemo-*'). The client then curls http://10.96.0.10/ (served by TC
# NAT), then again from inside the cgroup prdemo-sock, where the daemon's socket hooks (connect-time
# balancing, --cgroup-path) translate the VIP at connect(): the counters and the conntrack map show
# which path served which requests. The Service is a NodePort (30080): the outside client curls
# http://192.168.77.1:30080/, served by the host-interface program (--host-interfaces prdemoup). We
# scale the EndpointSlice to two backends and curl again.
# Everything is removed on exit, also on failure.
set -euo pipefail

cd "$(dirname "$0")/.."
repo=$(pwd)
# SERVICE_PROXY: another build of the binary to demo (default: the one `make build` made).
proxy="${SERVICE_PROXY:-$repo/bin/service-proxy}"
vip=10.96.0.10
requests=12
node=prdemo-node
client=prdemo-cli
backends=(prdemo-be1 prdemo-be2 prdemo-be3)
external=prdemo-ext
node_ip=192.168.77.1
node_port=30080

if [ -t 1 ]; then bold=$'\033[1m' plain=$'\033[0m'; else bold="" plain=""; fi
heading() { printf '\n%s== %s ==%s\n' "$bold" "$*" "$plain"; }
fail() { echo "demo: FAILED: $*" >&2; exit 1; }

# ---------------------------------------------------------------------------------------------------
heading "Checking prerequisites"
[ "$(id -u)" -eq 0 ] || fail "run as root (network namespaces, bpffs and BPF programs need it)"
[ -x "$proxy" ] || fail "$proxy is missing: run 'make build' first"
missing=()
for tool in curl socat; do command -v "$tool" >/dev/null || missing+=("$tool"); done
if ((${#missing[@]})); then
  echo "installing ${missing[*]} with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
for tool in ip mount umount curl socat; do command -v "$tool" >/dev/null || fail "$tool not found"; done
echo "ok: $proxy, run as root"

# ---------------------------------------------------------------------------------------------------
workdir=$(mktemp -d /tmp/prdemo.XXXXXX)
bpffs="$workdir/bpffs"
pinroot="$bpffs/proxy-replacement"
manifests="$workdir/manifests"
daemon_log="$workdir/service-proxy.log"
daemon_pid=""
socat_pids=()
# The clients' cgroup (under the cgroup v2 mount, never its root) and a bind mount of it outside /sys for
# the daemon: `ip netns exec` remounts /sys, hiding the cgroup mounts below it.
cgroup2_root=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/self/mounts)
cgroup="${cgroup2_root:+$cgroup2_root/prdemo-sock}"
cgroup_mount=/tmp/prdemo-sock-cgroup

cleanup() {
  local status=$?
  trap - EXIT INT TERM
  set +e # remove as much as possible, whatever fails on the way
  heading "Cleaning up"
  if [ -n "$daemon_pid" ] && kill -0 "$daemon_pid" 2>/dev/null; then
    kill -TERM "$daemon_pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$daemon_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$daemon_pid" 2>/dev/null || true
    wait "$daemon_pid" 2>/dev/null || true
  fi
  if [ "$status" -ne 0 ] && [ -s "$daemon_log" ]; then
    echo "--- last lines of the daemon log ($daemon_log) ---"
    tail -n 40 "$daemon_log"
    echo "---"
  fi
  # The daemon leaves its programs attached and its maps pinned on purpose (restarts keep flows);
  # `cleanup` is how an operator removes them.
  if ip netns list | grep -qw "$node" && mountpoint -q "$bpffs" 2>/dev/null; then
    ip netns exec "$node" "$proxy" cleanup --bpffs-root "$pinroot" | sed 's/^/  /' || echo "  service-proxy cleanup failed" >&2
  fi
  for pid in "${socat_pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${socat_pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  for ns in "$client" "${backends[@]}" "$external" "$node"; do
    ip netns delete "$ns" 2>/dev/null || true
  done
  if mountpoint -q "$bpffs" 2>/dev/null; then umount "$bpffs" || echo "  could not unmount $bpffs" >&2; fi
  if mountpoint -q "$cgroup_mount" 2>/dev/null; then umount "$cgroup_mount" || echo "  could not unmount $cgroup_mount" >&2; fi
  [ -d "$cgroup_mount" ] && rmdir "$cgroup_mount"
  if [ -n "$cgroup" ] && [ -d "$cgroup" ]; then rmdir "$cgroup" || echo "  could not remove cgroup $cgroup" >&2; fi
  rm -rf "$workdir"
  echo "removed namespaces, bpffs mount, cgroup prdemo-sock and $workdir"
  if [ "$status" -eq 0 ]; then
    heading "Demo finished"
  else
    echo "demo: exited with status $status" >&2
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------------------------------------------
heading "Creating the node, a client pod and ${#backends[@]} backend pods (network namespaces)"
for ns in "$node" "$client" "${backends[@]}" "$external"; do
  if ip netns list | grep -qw "$ns"; then
    echo "removing $ns left over from an earlier run"
    ip netns delete "$ns"
  fi
done
ip netns add "$node"
ip -n "$node" link set lo up
ip netns exec "$node" sysctl -q -w net.ipv4.ip_forward=1
# Replies leave the backends with the VIP as source, which the node has no route to: no rp_filter.
ip netns exec "$node" sysctl -q -w net.ipv4.conf.all.rp_filter=0
ip netns exec "$node" sysctl -q -w net.ipv4.conf.default.rp_filter=0

# add_pod NAMESPACE SUBNET: the pod gets 10.201.SUBNET.2/24 on eth0, the node 10.201.SUBNET.1 on the
# veth named like the pod (so --workload-interfaces 'prdemo-*' matches every node-side end).
add_pod() {
  local pod=$1 subnet=$2
  ip netns add "$pod"
  ip -n "$pod" link set lo up
  ip -n "$node" link add "$pod" type veth peer name eth0 netns "$pod"
  ip netns exec "$node" sysctl -q -w "net.ipv4.conf.$pod.rp_filter=0"
  ip -n "$node" address add "10.201.$subnet.1/24" dev "$pod"
  ip -n "$node" link set "$pod" up
  ip -n "$pod" address add "10.201.$subnet.2/24" dev eth0
  ip -n "$pod" link set eth0 up
  ip -n "$pod" route add default via "10.201.$subnet.1"
  echo "  $pod  10.201.$subnet.2  (node side: $pod, 10.201.$subnet.1)"
}
add_pod "$client" 1
for i in "${!backends[@]}"; do add_pod "${backends[$i]}" $((i + 2)); done

# The outside client: its own namespace on a link to the node's host interface prdemoup (not a pod veth:
# the name does not match 'prdemo-*'). It knows the node's address and nothing of the pod network.
ip netns add "$external"
ip -n "$external" link set lo up
ip -n "$node" link add prdemoup type veth peer name eth0 netns "$external"
ip netns exec "$node" sysctl -q -w net.ipv4.conf.prdemoup.rp_filter=0
ip -n "$node" address add "$node_ip/24" dev prdemoup
ip -n "$node" link set prdemoup up
ip -n "$external" address add 192.168.77.2/24 dev eth0
ip -n "$external" link set eth0 up
echo "  $external  192.168.77.2  (outside the cluster; the node's host interface prdemoup is $node_ip)"

heading "Starting an HTTP server on port 8080 in each backend pod"
for i in "${!backends[@]}"; do
  n=$((i + 1))
  responder="$workdir/backend-$n.sh"
  # Reads the request up to its blank line before answering: closing a socket with unread data
  # would send a reset that can destroy the answer in flight.
  cat >"$responder" <<EOF
#!/bin/sh
while IFS= read -r line; do
  case "\$line" in ""|"\$(printf '\r')") break ;; esac
done
printf 'HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nhello from backend-$n\n'
EOF
  chmod +x "$responder"
  ip netns exec "${backends[$i]}" socat TCP-LISTEN:8080,fork,reuseaddr EXEC:"$responder" &
  socat_pids+=($!)
  echo "  backend-$n: 10.201.$((i + 2)).2:8080"
done
for i in "${!backends[@]}"; do
  ok=""
  for _ in $(seq 50); do
    if ip netns exec "$client" curl -fsS --max-time 1 "http://10.201.$((i + 2)).2:8080/" >/dev/null 2>&1; then ok=1; break; fi
    sleep 0.1
  done
  [ -n "$ok" ] || fail "backend-$((i + 1)) does not answer on 10.201.$((i + 2)).2:8080"
done
echo "every backend answers when asked directly (no proxy involved yet)"

# ---------------------------------------------------------------------------------------------------
heading "Starting service-proxy in the node namespace"
mkdir -p "$bpffs" "$manifests"
# A private bpffs instance: the daemon's pins live only here and vanish with the unmount.
mount -t bpf bpf "$bpffs"
[ -n "$cgroup2_root" ] || fail "no cgroup v2 mount in /proc/self/mounts"
[ -d "$cgroup" ] && rmdir "$cgroup" 2>/dev/null
mkdir "$cgroup"
mkdir -p "$cgroup_mount"
mount --bind "$cgroup" "$cgroup_mount"
cp examples/demo/web.yaml "$manifests/web.yaml"
echo "manifests: $manifests/web.yaml   pins: $pinroot   log: $daemon_log"
echo "socket hooks: cgroup $cgroup (given to the daemon as $cgroup_mount), mode tcp"
ip netns exec "$node" "$proxy" run \
  --manifest-dir "$manifests" \
  --bpffs-root "$pinroot" \
  --workload-interfaces 'prdemo-*' \
  --host-interfaces prdemoup \
  --healthz-bind-address 127.0.0.1:10256 \
  --metrics-bind-address 127.0.0.1:10249 \
  --min-sync-interval 200ms \
  --hostname-override demo-node \
  --cgroup-path "$cgroup_mount" \
  --socket-lb-mode tcp \
  >"$daemon_log" 2>&1 &
daemon_pid=$!

ready=""
for _ in $(seq 300); do
  kill -0 "$daemon_pid" 2>/dev/null || fail "service-proxy exited during start-up"
  if ip netns exec "$node" curl -fsS --max-time 1 -o /dev/null http://127.0.0.1:10256/readyz 2>/dev/null; then ready=1; break; fi
  sleep 0.1
done
[ -n "$ready" ] || fail "service-proxy not ready (GET /readyz != 200) within 30 s"
echo "ready: GET http://127.0.0.1:10256/readyz -> 200 (pid $daemon_pid)"

# frontend_backend_count: the backend count of the VIP's frontend in the live maps (empty if absent).
frontend_backend_count() {
  ip netns exec "$node" "$proxy" dump --bpffs-root "$pinroot" |
    awk -v fe="$vip:80/tcp" '$1 == fe { for (i = 1; i < NF; i++) if ($i == "backends") { print $(i + 1); exit } }'
}

# wait_for_backend_count N: polls the live maps until the frontend has N backends (at most 10 s).
wait_for_backend_count() {
  local want=$1 count=""
  for _ in $(seq 100); do
    kill -0 "$daemon_pid" 2>/dev/null || fail "service-proxy exited"
    count=$(frontend_backend_count || true)
    [ "$count" = "$want" ] && return 0
    sleep 0.1
  done
  fail "the frontend $vip:80 has '${count:-no entry}' backends after 10 s, expected $want"
}

# counter NAME: a dataplane counter from the dump (0 when it has not counted yet).
counter() {
  ip netns exec "$node" "$proxy" dump --bpffs-root "$pinroot" |
    awk -v name="$1" '/^COUNTERS/ { c = 1; next } c && $1 == name { print $2; found = 1 } END { if (!found) print 0 }'
}

# conntrack_entries: how many conntrack entries the TC path holds.
conntrack_entries() {
  ip netns exec "$node" "$proxy" dump --bpffs-root "$pinroot" | awk '/^CONNTRACK \(/ { gsub(/[()]/, "", $2); print $2; exit }'
}

# in_cgroup CMD...: runs CMD in the client pod from inside the socket hooks' cgroup (pid first, then netns).
in_cgroup() {
  sh -c 'echo $$ > "$0/cgroup.procs" && exec ip netns exec "$@"' "$cgroup" "$client" "$@"
}

# tally [--in-cgroup] EXPECTED...: $requests curls from the client to the VIP, the answers and a count
# per backend. Fails if a request fails or a backend not in EXPECTED answers.
tally() {
  local run=(ip netns exec "$client") url="http://$vip/"
  if [ "$1" = "--in-cgroup" ]; then run=(in_cgroup); shift; fi
  if [ "$1" = "--from-outside" ]; then run=(ip netns exec "$external"); url="http://$node_ip:$node_port/"; shift; fi
  local expected=("$@") answers=() answer
  for i in $(seq "$requests"); do
    answer=$("${run[@]}" curl -sS --max-time 3 "$url") || fail "request $i to $url failed"
    printf '  %2d  %s\n' "$i" "$answer"
    answers+=("${answer##* }")
  done
  echo
  echo "  tally:"
  for name in "${expected[@]}"; do
    local count=0
    for a in "${answers[@]}"; do [ "$a" = "$name" ] && count=$((count + 1)); done
    printf '    %-10s %2d  %s\n' "$name" "$count" "$(printf '%*s' "$count" '' | tr ' ' '#')"
  done
  for a in "${answers[@]}"; do
    local listed=""
    for name in "${expected[@]}"; do [ "$a" = "$name" ] && listed=1; done
    [ -n "$listed" ] || fail "'$a' answered, but only ${expected[*]} are endpoints of the Service"
  done
}

wait_for_backend_count 3

# ---------------------------------------------------------------------------------------------------
heading "$requests requests from the client pod to http://$vip/ (3 endpoints; outside the cgroup: TC NAT)"
nat_before=$(counter nat_new_flow) sock_before=$(counter sock_connect)
tally backend-1 backend-2 backend-3
nat_tc=$(( $(counter nat_new_flow) - nat_before )) sock_tc=$(( $(counter sock_connect) - sock_before ))
echo "  TC path: nat_new_flow +$nat_tc, sock_connect +$sock_tc, conntrack entries now $(conntrack_entries)"
[ "$nat_tc" -eq "$requests" ] && [ "$sock_tc" -eq 0 ] || fail "expected $requests TC NATed flows and no socket translation"

heading "$requests requests from the same pod, curl placed in cgroup prdemo-sock (socket hooks: connect-time balancing)"
ct_before=$(conntrack_entries) nat_before=$(counter nat_new_flow) sock_before=$(counter sock_connect)
tally --in-cgroup backend-1 backend-2 backend-3
nat_sock=$(( $(counter nat_new_flow) - nat_before )) sock_sock=$(( $(counter sock_connect) - sock_before ))
echo "  socket path: sock_connect +$sock_sock, nat_new_flow +$nat_sock, conntrack entries $ct_before -> $(conntrack_entries)"
[ "$sock_sock" -eq "$requests" ] && [ "$nat_sock" -eq 0 ] || fail "expected $requests connects translated at the socket and no TC NAT"
echo "  (curl connected to $vip:80; the packets already carried the backend address, so TC had nothing to NAT)"

heading "$requests requests from outside the node to the NodePort http://$node_ip:$node_port/ (host-interface program)"
for _ in $(seq 50); do
  ip netns exec "$node" "$proxy" dump --bpffs-root "$pinroot" | grep -q "^  $node_ip:$node_port/tcp" && break
  sleep 0.1
done
nat_before=$(counter nat_new_flow)
tally --from-outside backend-1 backend-2 backend-3
echo "  NodePort: nat_new_flow +$(( $(counter nat_new_flow) - nat_before )) (DNAT at the node's host interface, replies"
echo "  reverse-NATed to $node_ip:$node_port at the backends' veths)"

heading "service-proxy dump --bpffs-root $pinroot"
ip netns exec "$node" "$proxy" dump --bpffs-root "$pinroot"

# ---------------------------------------------------------------------------------------------------
heading "Scaling the EndpointSlice to 2 endpoints (10.201.4.2 / backend-3 removed)"
# Written beside the directory and renamed in, so the daemon never reads a half-written file.
# Drop the endpoint and its indented lines (conditions, nodeName).
awk '
  /^  - addresses: \[10\.201\.4\.2\]$/ { drop = 1; next }
  drop && /^    / { next }
  { drop = 0; print }
' examples/demo/web.yaml >"$workdir/web.yaml.new"
grep -q '10.201.4.2' "$workdir/web.yaml.new" && fail "could not remove 10.201.4.2 from the manifest"
mv "$workdir/web.yaml.new" "$manifests/web.yaml"
started=$(date +%s%N)
wait_for_backend_count 2
echo "the daemon applied it in $(( ($(date +%s%N) - started) / 1000000 )) ms"

heading "$requests requests from the client pod to http://$vip/ (2 endpoints)"
tally backend-1 backend-2

heading "service-proxy dump --bpffs-root $pinroot (after scaling; frontends only)"
ip netns exec "$node" "$proxy" dump --bpffs-root "$pinroot" | sed '/^$/,$d'
