# Sourced by the image scripts: a private podman for this machine's layout (see DESIGN.md, "Shipping and
# testing the chart and the image here").
#
#   PR_PODMAN_STATE  a directory of our own: containers.conf, image storage (storage/) and run state (run/).
#                    Nothing goes to the host's podman storage, so removing this directory removes every
#                    image and layer the run made.
#
# pm ARGS...         podman with that state: runc (crun refuses this hybrid cgroup layout), the cgroupfs
#                    manager, events in a file, and ulimits the shell cannot raise.
# pm_teardown        removes our containers and images, unmounts what podman left mounted, the state
#                    directory, and the empty libpod_parent cgroups cgroupfs leaves in every hierarchy.

pm_init() {
  : "${PR_PODMAN_STATE:?set PR_PODMAN_STATE to a directory of its own}"
  mkdir -p "$PR_PODMAN_STATE/storage" "$PR_PODMAN_STATE/run" "$PR_PODMAN_STATE/tmp"
  cat >"$PR_PODMAN_STATE/containers.conf" <<CONF
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$PR_PODMAN_STATE/events.log"
tmp_dir = "$PR_PODMAN_STATE/tmp"
CONF
}

pm() {
  CONTAINERS_CONF="$PR_PODMAN_STATE/containers.conf" TMPDIR="$PR_PODMAN_STATE/tmp" \
    podman --root "$PR_PODMAN_STATE/storage" --runroot "$PR_PODMAN_STATE/run" --storage-driver overlay "$@"
}

# Removes the libpod_parent cgroups (and their empty children) that podman's cgroupfs manager leaves in
# every hierarchy: v1 controllers and the unified v2 one. rmdir only: a cgroup still in use (another
# run's container) is never touched.
pm_remove_libpod_cgroups() {
  local mount dir
  while read -r _ mount type _; do
    case "$type" in cgroup|cgroup2) ;; *) continue ;; esac
    [ -d "$mount/libpod_parent" ] || continue
    while IFS= read -r dir; do rmdir "$dir" 2>/dev/null || true; done < <(find "$mount/libpod_parent" -depth -type d 2>/dev/null)
  done </proc/self/mounts
}

pm_teardown() {
  [ -n "${PR_PODMAN_STATE:-}" ] && [ -d "$PR_PODMAN_STATE" ] || return 0
  if [ -f "$PR_PODMAN_STATE/containers.conf" ]; then
    pm rm --all --force --time 0 >/dev/null 2>&1 || true
    pm rmi --all --force >/dev/null 2>&1 || true
  fi
  # Whatever is still mounted below the state (overlay layers, shm) goes before the directory.
  local m
  while read -r m; do umount -l "$m" 2>/dev/null || true; done < <(awk -v p="$PR_PODMAN_STATE" 'index($2, p) == 1 { print $2 }' /proc/self/mounts | sort -r)
  rm -rf "$PR_PODMAN_STATE"
  pm_remove_libpod_cgroups
}
