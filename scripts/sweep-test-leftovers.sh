#!/usr/bin/env bash
# Removes what a killed test run left behind: prt-* network namespaces with no process in them,
# empty prt-* cgroups and prt-bpffs-* mounts. A test cleans up after itself on every normal exit;
# only a run that was killed (SIGKILL, a lost VM session) leaves these, and the next run's
# fixtures would share the machine with them. Nothing is touched while another test run is
# alive (a testhost process), because its objects look the same.
set -uo pipefail

if pgrep -f 'testhost|vstest.console' > /dev/null; then
  echo "sweep: another test run is alive; leaving prt-* objects alone"
  exit 0
fi

swept=0
for ns in $(ip netns list 2>/dev/null | awk '$1 ~ /^prt-/ { print $1 }'); do
  if [ -z "$(ip netns pids "$ns" 2>/dev/null)" ]; then
    ip netns delete "$ns" && swept=$((swept + 1)) && echo "sweep: deleted network namespace $ns"
  fi
done

while read -r mount; do
  umount "$mount" && rmdir "$mount" 2>/dev/null; swept=$((swept + 1)); echo "sweep: unmounted $mount"
done < <(awk '$2 ~ /\/prt-bpffs-/ { print $2 }' /proc/self/mounts)

cgroup2=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/self/mounts)
if [ -n "$cgroup2" ]; then
  for dir in "$cgroup2"/prt-*; do
    [ -d "$dir" ] || continue
    # rmdir refuses a cgroup that still has processes or children (EBUSY): only empty ones go
    if rmdir "$dir" 2>/dev/null; then
      swept=$((swept + 1)); echo "sweep: removed cgroup $dir"
    fi
  done
fi

# The private podman of a killed image test: its containers, images, storage and libpod_parent cgroups.
for state in /tmp/prt-podman-*; do
  [ -d "$state" ] || continue
  (export PR_PODMAN_STATE=$state; . "$(dirname "$0")/lib/podman.sh"; pm_teardown) && swept=$((swept + 1)) && echo "sweep: removed podman state $state"
done

[ "$swept" -eq 0 ] || echo "sweep: $swept leftover(s) of a killed test run removed"
exit 0
