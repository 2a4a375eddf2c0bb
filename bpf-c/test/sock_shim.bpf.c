/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * sock_shim.bpf.c — TEST ONLY (built into build/test/, embedded in the test assembly, never in
 * the daemon). BPF_PROG_TEST_RUN cannot run cgroup sock_addr programs, so this TC program runs
 * the socket hooks' decision functions (include/pr_sock.h, the very code of sock_lb.bpf.c) on a
 * request carried in the test packet: 14 bytes of (ignored) Ethernet header, then a
 * struct pr_sock_test, which the program writes back with the rewrite and the verdict.
 * Loaded with the core object's maps (like sock_lb.bpf.o), so tests prefill them as usual.
 */
#include "pr_common.h"
#include "pr_sock.h"

enum pr_sock_test_op {
	PR_SOCK_TEST_CONNECT = 0,     /* pr_sock_forward4 as connect4 calls it */
	PR_SOCK_TEST_SENDMSG = 1,     /* pr_sock_forward4 as sendmsg4 calls it */
	PR_SOCK_TEST_RECVMSG = 2,     /* pr_sock_reverse4 as recvmsg4 calls it */
	PR_SOCK_TEST_GETPEERNAME = 3, /* pr_sock_reverse4 as getpeername4 calls it */
};

struct pr_sock_test {
	struct pr_sock_req req; /* in/out */
	__u64 now;              /* in: the clock the affinity code sees */
	__u32 op;               /* in: enum pr_sock_test_op */
	__s32 verdict;          /* out: enum pr_sock_verdict, -1 for an unknown op */
};

#define PR_SOCK_TEST_OFF 14

SEC("tc")
int pr_test_sock(struct __sk_buff *skb)
{
	struct pr_sock_test t;

	if (bpf_skb_load_bytes(skb, PR_SOCK_TEST_OFF, &t, sizeof(t)) < 0)
		return TC_ACT_SHOT;
	switch (t.op) {
	case PR_SOCK_TEST_CONNECT:
		t.verdict = pr_sock_wanted(t.req.proto) ? pr_sock_forward4(&t.req, t.now, PR_CNT_SOCK_CONNECT, 1) : PR_SOCK_PASS;
		break;
	case PR_SOCK_TEST_SENDMSG:
		t.verdict = pr_sock_wanted(t.req.proto) ? pr_sock_forward4(&t.req, t.now, PR_CNT_SOCK_SENDMSG, 1) : PR_SOCK_PASS;
		break;
	case PR_SOCK_TEST_RECVMSG:
		t.verdict = pr_sock_reverse4(&t.req, PR_CNT_SOCK_RECVMSG_REVERSED);
		break;
	case PR_SOCK_TEST_GETPEERNAME:
		t.verdict = pr_sock_reverse4(&t.req, PR_CNT_SOCK_PEERNAME_REVERSED);
		break;
	default:
		t.verdict = -1;
	}
	if (bpf_skb_store_bytes(skb, PR_SOCK_TEST_OFF, &t, sizeof(t), 0) < 0)
		return TC_ACT_SHOT;
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
