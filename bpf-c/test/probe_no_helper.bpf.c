/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * probe_no_helper.bpf.c — TEST ONLY (build/test/, embedded in the test assembly). Calls a helper id
 * beyond every kernel's, so the verifier rejects it everywhere as a kernel before 5.18 rejects
 * sock_lb.bpf.o's bpf_set_retval (#187): "invalid func unknown#N" (or, where the id exists but
 * not for the program type, "... cannot use helper ...#N"), EINVAL. The tests check that the
 * loader's probe (src/Dataplane/Loading/VariantProbe.cs) reads what this kernel really prints.
 */
#include "pr_common.h"

#define PR_PROBE_ABSENT_HELPER 99999

static long (*pr_probe_absent_helper)(void) = (void *)PR_PROBE_ABSENT_HELPER;

SEC("tc")
int pr_probe_helper(struct __sk_buff *skb)
{
	return pr_probe_absent_helper() ? TC_ACT_OK : TC_ACT_SHOT;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
