/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * sock_lb.bpf.c — connect-time load balancing: cgroup v2 sock_addr programs that translate a
 * Service VIP:port at the socket call, so that the packets already carry the backend address and
 * the TC path has nothing to NAT (no conntrack entry, no per-packet rewrite).
 *
 *   pr_sk_connect4   cgroup/connect4      TCP and connected UDP: destination VIP:port -> backend; the
 *                                         reverse translation kept in the socket's storage (pr_sk_store4)
 *   pr_sk_sendmsg4   cgroup/sendmsg4      unconnected UDP: each datagram's destination -> backend
 *   pr_sk_recvmsg4   cgroup/recvmsg4      UDP: a reply from that backend is reported from VIP:port
 *   pr_sk_peername4  cgroup/getpeername4  the peer of a translated socket is VIP:port
 *
 * The decisions live in include/pr_sock.h (shared with the test shim); the frontend, backend,
 * affinity, Service CIDR, counter and config maps are the TC object's own (the loader hands this
 * object their fds), so both paths balance over one state. The v6 hooks (connect6, sendmsg6,
 * recvmsg6, getpeername6) will be siblings reading user_ip6 into a pr_sock_req6.
 *
 * Return values: 1 lets the call proceed; 0 fails it, with the error set by bpf_set_retval
 * (ECONNREFUSED, as a TCP RST would give). The compat build (PR_COMPAT, for Linux before 5.18,
 * which has no bpf_set_retval) returns 0 alone, and the kernel reports EPERM: the refusal is as
 * fast, and counted the same (PR_CNT_SOCK_REFUSE_*), only the errno differs.
 */
#include "pr_common.h"
#include "pr_sock.h"

#define PR_ECONNREFUSED 111

PR_INLINE void pr_sock_req_of(struct bpf_sock_addr *ctx, struct pr_sock_req *req)
{
	struct bpf_sock *sk = ctx->sk;

	req->cookie = bpf_get_socket_cookie(ctx);
	req->ip = ctx->user_ip4;
	req->port = (__be16)ctx->user_port;
	req->proto = (__u8)ctx->protocol;
	req->src = sk ? sk->src_ip4 : 0;
	req->netns_cookie = bpf_get_netns_cookie(ctx);
}

PR_INLINE void pr_sock_rewrite(struct bpf_sock_addr *ctx, const struct pr_sock_req *req)
{
	ctx->user_ip4 = req->ip;
	ctx->user_port = req->port;
}

/* connect4 / sendmsg4: rewrite, refuse or let the call through. (recvmsg4 and getpeername4
 * may not call bpf_set_retval, so they only ever rewrite.) */
PR_INLINE int pr_sock_apply_forward(struct bpf_sock_addr *ctx, const struct pr_sock_req *req, int verdict)
{
	if (verdict == PR_SOCK_REFUSE) {
#if !PR_COMPAT
		bpf_set_retval(-PR_ECONNREFUSED);
#endif
		return 0; /* compat: EPERM */
	}
	if (verdict == PR_SOCK_TRANSLATED)
		pr_sock_rewrite(ctx, req);
	return 1;
}

/*
 * A connected socket's reverse translation lives in the socket (freed with it). Without storage (no
 * memory), pr_sk_rev4 holds it as before, counted: the peer is still reported right.
 */
PR_INLINE void pr_sock_store4(struct bpf_sock_addr *ctx, const struct pr_sock_req *req, __be32 vip, __be16 port)
{
	struct pr_sk_store4 *st = NULL;

	if (ctx->sk)
		st = bpf_sk_storage_get(&pr_sk_store4, ctx->sk, NULL, BPF_SK_STORAGE_GET_F_CREATE);
	if (!st) {
		pr_count(PR_CNT_SOCK_STORE_FAILED);
		pr_sock_remember4(req->cookie, req->ip, req->port, vip, port);
		return;
	}
	st->backend_addr = req->ip;
	st->backend_port = req->port;
	st->pad = 0;
	st->vip = vip;
	st->port = port;
	st->pad2 = 0;
}

/* The reverse translation kept in the socket for a reply from (or the peer) req->ip:port, if any. */
PR_INLINE int pr_sock_stored_reverse4(struct bpf_sock_addr *ctx, struct pr_sock_req *req, __u32 counter)
{
	struct pr_sk_store4 *st;

	if (!ctx->sk)
		return PR_SOCK_PASS;
	st = bpf_sk_storage_get(&pr_sk_store4, ctx->sk, NULL, 0);
	if (!st || st->backend_addr != req->ip || st->backend_port != req->port)
		return PR_SOCK_PASS;
	req->ip = st->vip;
	req->port = st->port;
	pr_count(counter);
	return PR_SOCK_TRANSLATED;
}

SEC("cgroup/connect4")
int pr_sk_connect4(struct bpf_sock_addr *ctx)
{
	struct pr_sock_req req = {};
	__be32 vip;
	__be16 port;
	int verdict;

	if (!pr_sock_wanted((__u8)ctx->protocol))
		return 1;
	pr_sock_req_of(ctx, &req);
	vip = req.ip;
	port = req.port;
	verdict = pr_sock_forward4(&req, PR_SOCK_NOW_UNREAD, PR_CNT_SOCK_CONNECT, 0);
	if (verdict == PR_SOCK_TRANSLATED)
		pr_sock_store4(ctx, &req, vip, port);
	return pr_sock_apply_forward(ctx, &req, verdict);
}

SEC("cgroup/sendmsg4")
int pr_sk_sendmsg4(struct bpf_sock_addr *ctx)
{
	struct pr_sock_req req = {};

	if (!pr_sock_wanted((__u8)ctx->protocol))
		return 1;
	pr_sock_req_of(ctx, &req);
	/* the datagram's own source (IP_PKTINFO) wins over the socket's bound address */
	if (ctx->msg_src_ip4)
		req.src = ctx->msg_src_ip4;
	return pr_sock_apply_forward(ctx, &req, pr_sock_forward4(&req, PR_SOCK_NOW_UNREAD, PR_CNT_SOCK_SENDMSG, 1));
}

SEC("cgroup/recvmsg4")
int pr_sk_recvmsg4(struct bpf_sock_addr *ctx)
{
	struct pr_sock_req req = {};

	pr_sock_req_of(ctx, &req);
	if (pr_sock_stored_reverse4(ctx, &req, PR_CNT_SOCK_RECVMSG_REVERSED) == PR_SOCK_TRANSLATED ||
	    pr_sock_reverse4(&req, PR_CNT_SOCK_RECVMSG_REVERSED) == PR_SOCK_TRANSLATED)
		pr_sock_rewrite(ctx, &req);
	return 1; /* recvmsg4 must return 1 */
}

SEC("cgroup/getpeername4")
int pr_sk_peername4(struct bpf_sock_addr *ctx)
{
	struct pr_sock_req req = {};

	pr_sock_req_of(ctx, &req);
	if (pr_sock_stored_reverse4(ctx, &req, PR_CNT_SOCK_PEERNAME_REVERSED) == PR_SOCK_TRANSLATED ||
	    pr_sock_reverse4(&req, PR_CNT_SOCK_PEERNAME_REVERSED) == PR_SOCK_TRANSLATED)
		pr_sock_rewrite(ctx, &req);
	return 1; /* getpeername4 must return 1 */
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
