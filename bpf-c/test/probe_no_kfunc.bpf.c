/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * probe_no_kfunc.bpf.c — TEST ONLY (build/test/, embedded in the test assembly). Calls a kfunc no
 * kernel has, so it fails to load everywhere exactly as tc_nat.bpf.o fails before Linux 6.2,
 * where bpf_cast_to_kern_ctx does not exist: libbpf stops before the kernel sees anything with
 * "extern (func ksym) '...': not found in kernel or module BTFs" (ESRCH, or EINVAL from Debian's
 * libbpf 1.1.2). The tests check that the loader's probe (src/Dataplane/Loading/VariantProbe.cs)
 * reads what this libbpf really prints.
 */
#include "pr_common.h"

extern void *pr_probe_absent_kfunc(void *ctx) __ksym;

SEC("tc")
int pr_probe_kfunc(struct __sk_buff *skb)
{
	return pr_probe_absent_kfunc(skb) ? TC_ACT_OK : TC_ACT_SHOT;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
