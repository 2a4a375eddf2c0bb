/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * pr_sock.h — the decisions of the socket hooks (connect-time balancing), on a plain request
 * struct rather than the kernel's bpf_sock_addr, so that a program type BPF_PROG_TEST_RUN can run
 * (the test shim in bpf-c/test/) executes exactly the code the cgroup programs execute:
 *   pr_sock_wanted:   whether the mode has the hooks translate the protocol at all (asked first,
 *                     before the hooks gather the request);
 *   pr_sock_forward4: connect()/sendmsg() to VIP:port -> a backend (pr_lb.h), with the
 *                     reverse entry (socket cookie, backend) -> VIP:port remembered in pr_sk_rev4;
 *                     ClientIP affinity keyed by the pod's bound address, or for a socket in the
 *                     host netns (pr_host_netns) by PR_AFF_CLIENT_HOST;
 *   pr_sock_reverse4: recvmsg() source / getpeername() peer that is such a backend -> VIP:port.
 */
#ifndef PR_SOCK_H
#define PR_SOCK_H

#include "pr_common.h"
#include "pr_lb.h"

/* What the caller does with the socket call. */
enum pr_sock_verdict {
	PR_SOCK_PASS = 0,       /* untouched (not a Service, or left to the TC path) */
	PR_SOCK_TRANSLATED = 1, /* req->ip/port were rewritten */
	PR_SOCK_REFUSE = 2,     /* fail the call with ECONNREFUSED */
};

/* One socket call: in, the address the application passed or will see; out, the rewrite. */
struct pr_sock_req {
	__u64 cookie;       /* HBO: bpf_get_socket_cookie() */
	__be32 ip;          /* NBO: destination (connect, sendmsg) or peer (recvmsg, getpeername) */
	__be32 src;         /* NBO: the socket's bound source address; 0 when unbound */
	__be16 port;        /* NBO */
	__u8 proto;         /* IPPROTO_TCP / IPPROTO_UDP */
	__u8 pad;
	__u32 pad2;
	__u64 netns_cookie; /* HBO: bpf_get_netns_cookie() of the socket's network namespace */
};

PR_INLINE __u32 pr_sock_lb_mode(void)
{
	__u32 zero = 0;
	struct pr_config *config = bpf_map_lookup_elem(&pr_config, &zero);

	return config ? config->sock_lb_mode : PR_SOCK_LB_DISABLED;
}

/* Whether the configured mode has the socket hooks translate this protocol. */
PR_INLINE int pr_sock_mode_covers(__u32 mode, __u8 proto)
{
	if (proto == IPPROTO_TCP)
		return mode == PR_SOCK_LB_TCP || mode == PR_SOCK_LB_ENABLED;
	if (proto == IPPROTO_UDP)
		return mode == PR_SOCK_LB_ENABLED;
	return 0;
}

/*
 * The hooks' first question, before pr_sock_forward4: a call the mode leaves to the TC path (every
 * UDP sendmsg in the default mode `tcp`) costs one array lookup, no socket or netns cookie.
 */
PR_INLINE int pr_sock_wanted(__u8 proto)
{
	return pr_sock_mode_covers(pr_sock_lb_mode(), proto);
}

/* `now` for pr_sock_forward4: read bpf_ktime_get_ns() once an affinity frontend was found (the hooks). */
#define PR_SOCK_NOW_UNREAD 0

/* Whether the socket lives in the host network namespace (pr_host_netns, written by the daemon). */
PR_INLINE int pr_sock_in_host_netns(__u64 netns_cookie)
{
	__u32 zero = 0;
	struct pr_host_netns *host = bpf_map_lookup_elem(&pr_host_netns, &zero);

	return host && host->cookie != 0 && host->cookie == netns_cookie;
}

/* The reverse translation of a socket sent to backend:bport, in pr_sk_rev4 (keyed by the socket cookie). */
PR_INLINE void pr_sock_remember4(__u64 cookie, __be32 backend, __be16 bport, __be32 vip, __be16 port)
{
	struct pr_sk_rev_key4 key = { .cookie = cookie, .backend_addr = backend, .backend_port = bport };
	struct pr_sk_rev_value4 rev = { .vip = vip, .port = port };

	if (bpf_map_update_elem(&pr_sk_rev4, &key, &rev, BPF_ANY) < 0)
		pr_count(PR_CNT_SOCK_REV_UPDATE_FAILED); /* still serve: only the reported peer is wrong */
}

/*
 * connect() (TCP, UDP) and sendmsg() (unconnected UDP) of a protocol pr_sock_wanted; `counter` is
 * counted on a rewrite. `remember`: write the reverse translation to pr_sk_rev4 (sendmsg, the test
 * shim); connect4 keeps it in the socket's own storage instead (sock_lb.bpf.c). `now`: the clock the affinity code sees, PR_SOCK_NOW_UNREAD to have it read
 * only for a Service (the test shim passes its own).
 */
PR_INLINE int pr_sock_forward4(struct pr_sock_req *req, __u64 now, __u32 counter, int remember)
{
	struct pr_nat_fe_key4 fe_key = { .vip = req->ip, .port = req->port, .proto = req->proto };
	struct pr_lb_result lb = {};
	struct pr_nat_fe_value *fe;
	__be32 client = req->src;
	int verdict = PR_LB_NOT_SERVICE;
	int host = 0;

	/* a plain ClusterIP: its slot in pr_nat_direct4 (no affinity, so no client identity needed), else the hash path */
	if (pr_lb_direct4(&fe_key, &lb))
		goto chosen;
	fe = pr_lb_frontend4(&fe_key, &verdict);
	/* ClientIP affinity needs the client as Kubernetes sees it. A pod socket is its pod's address,
	 * which only a bound socket knows here (else the TC path, which sees it, balances it). A host
	 * socket has no TC hook on its path, so it is keyed here, bound or not, by the one identity of
	 * the host netns: kube-proxy sees every host-network client as the node. */
	if (fe) {
		host = pr_sock_in_host_netns(req->netns_cookie);
		/* Source ranges are checked against a real source address: only a bound socket has one
		 * here (host or pod); an unbound one is left to the path that sees its packets. */
		if (host && !(fe->flags & PR_FE_F_SOURCE_RANGES))
			client = PR_AFF_CLIENT_HOST;
		else
			host = 0;
		/* only affinity reads the clock (kvm-clock costs tens of ns per read in a VM) */
		if (now == PR_SOCK_NOW_UNREAD && (fe->flags & PR_FE_F_AFFINITY))
			now = bpf_ktime_get_ns();
		verdict = pr_lb_choose4(&fe_key, fe, client, host || client != 0, PR_LB_INTERNAL, now, &lb);
	}
	switch (verdict) {
	case PR_LB_CHOSEN:
		break;
	case PR_LB_NOT_SERVICE:
		pr_count(PR_CNT_SOCK_PASS_NO_SERVICE);
		return PR_SOCK_PASS;
	case PR_LB_NEEDS_CLIENT:
		/* An unbound pod socket: only the TC path sees the address the kernel will pick for it,
		 * so TC keeps its affinity (and checks source ranges) per pod address; translating here
		 * would key it wrongly. */
		pr_count((fe->flags & PR_FE_F_SOURCE_RANGES) ? PR_CNT_SOCK_PASS_SOURCE_RANGE : PR_CNT_SOCK_PASS_AFFINITY);
		return PR_SOCK_PASS;
	case PR_LB_SOURCE_DENIED:
		pr_count(PR_CNT_DROP_SOURCE_RANGE);
		return PR_SOCK_REFUSE;
	case PR_LB_NO_LOCAL:
		pr_count(PR_CNT_DROP_NO_LOCAL_BACKEND);
		return PR_SOCK_REFUSE;
	case PR_LB_UNKNOWN_SERVICE:
		pr_count(PR_CNT_SOCK_REFUSE_UNKNOWN_SERVICE);
		return PR_SOCK_REFUSE;
	case PR_LB_BACKEND_MISSING:
		pr_count(PR_CNT_SOCK_REFUSE_BACKEND_MISSING);
		return PR_SOCK_REFUSE;
	default: /* PR_LB_NO_BACKENDS */
		pr_count(PR_CNT_SOCK_REFUSE_NO_BACKEND);
		return PR_SOCK_REFUSE;
	}
chosen:
	if (lb.choice.from_affinity)
		pr_count(PR_CNT_SOCK_AFFINITY_HIT);
	if (host && (lb.fe_flags & PR_FE_F_AFFINITY))
		pr_count(PR_CNT_SOCK_AFFINITY_HOST);

	if (remember)
		pr_sock_remember4(req->cookie, lb.choice.addr, lb.choice.port, req->ip, req->port);

	req->ip = lb.choice.addr;
	req->port = lb.choice.port;
	pr_count(counter);
	return PR_SOCK_TRANSLATED;
}

/* recvmsg() source and getpeername() peer; `counter` is counted on a rewrite. Runs in every
 * mode: a socket translated before a mode switch keeps seeing its VIP. */
PR_INLINE int pr_sock_reverse4(struct pr_sock_req *req, __u32 counter)
{
	struct pr_sk_rev_key4 key = { .cookie = req->cookie, .backend_addr = req->ip, .backend_port = req->port };
	struct pr_sk_rev_value4 *rev = bpf_map_lookup_elem(&pr_sk_rev4, &key);

	if (!rev)
		return PR_SOCK_PASS;
	req->ip = rev->vip;
	req->port = rev->port;
	pr_count(counter);
	return PR_SOCK_TRANSLATED;
}

#endif /* PR_SOCK_H */
