/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * sock_destroy_no_kfunc.bpf.c — TEST ONLY (build/test/, embedded in the test assembly). The default build of
 * sock_destroy.bpf.c with its kfunc renamed to one no kernel has, so that it fails to load here exactly as the real
 * object fails on a kernel before 6.5, which has no bpf_sock_destroy: libbpf stops with "extern (func ksym) '...':
 * not found in kernel or module BTFs". The tests load it as the default build to drive the socket terminator's
 * fallback to the compat build (and the daemon's degraded path) on a kernel that has the kfunc.
 */
#define bpf_sock_destroy pr_probe_absent_sock_destroy
#include "../sock_destroy.bpf.c"
