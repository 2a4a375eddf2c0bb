/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * tc_nat.bpf.c — TC programs of the service NAT core.
 *
 * pr_tc_from_wl: TC ingress on the host side of a workload (pod) veth, i.e. packets leaving
 * the pod. In order:
 *   1. a conntrack hit: forward entry -> DNAT to the flow's backend; reverse entry -> the
 *      packet is a reply from a backend: source rewritten back to VIP:port;
 *   2. an ICMP error quoting a NATed flow -> translated back to the VIP;
 *   3. a Service frontend -> a backend is chosen (pr_lb.h: pr_lb_frontend4 then pr_lb_choose4, shared
 *      with the socket hooks of sock_lb.bpf.c: random, or by ClientIP affinity), the
 *      conntrack pair is created and the packet DNATed; no backends -> reject (RST / ICMP);
 *      an affinity frontend asked from source 0.0.0.0 (no client to key) -> drop;
 *   4. an address in a Service CIDR that no frontend claims -> reject as well;
 *   5. anything else passes untouched.
 * Every verdict is counted in pr_counters by reason. The hot paths call no helper to rewrite,
 * refresh a conntrack entry's last_seen only every PR_CT_REFRESH_NS and read the exact clock
 * only then (see bpf-c/README.md, "The per-packet path").
 *
 * pr_tc_from_host: TC ingress on the host's data interfaces (traffic from outside the node): the
 * same steps, for NodePort, LoadBalancer and external IP frontends (and ClusterIPs routed to the
 * node), with two differences: a TCP packet that is not a SYN opens no flow (it belongs to a
 * connection of the host's own, e.g. the reply to an outgoing connection whose port happens to be
 * a nodePort), and externalTrafficPolicy: Local picks the node-local backends.
 *
 * Hairpin (from_wl only): a pod balanced to itself gets the source pr_config.hairpin_addr, so that its
 * answer leaves the pod, and both directions are sent straight back out of its veth (PR_CT_F_HAIRPIN).
 *
 * pr_tc_pass: does nothing; the baseline for per-packet cost benchmarks.
 */
#include "pr_common.h"
#include "pr_conntrack.h"
#include "pr_csum.h"
#include "pr_icmp_err.h"
#include "pr_lb.h"
#include "pr_nat.h"
#include "pr_parse.h"
#include "pr_reject.h"

/* Rejects a TCP or UDP packet; `reason` is counted on success (0: no backends). */
static __noinline int pr_reject(struct __sk_buff *skb, const struct pr_pkt *p, __u32 reason)
{
	if (p->proto == IPPROTO_TCP)
		return pr_reject_tcp(skb, p, reason ? reason : PR_CNT_REJECT_TCP_NO_BACKEND);
	return pr_reject_udp(skb, p, reason ? reason : PR_CNT_REJECT_UDP_NO_BACKEND);
}

/*
 * Sends a hairpin packet back out of the interface it came in on, to the pod behind it: the
 * Ethernet addresses swap (the pod's MAC becomes the destination). No routing decision, so no
 * ICMP redirect and no reverse-path filter sees the link-local source.
 */
PR_INLINE int pr_hairpin_out(struct __sk_buff *skb)
{
	__u8 macs[2 * ETH_ALEN];
	__u8 swapped[2 * ETH_ALEN];

	if (bpf_skb_load_bytes(skb, 0, macs, sizeof(macs)) < 0)
		return TC_ACT_SHOT;
	__builtin_memcpy(swapped, macs + ETH_ALEN, ETH_ALEN);
	__builtin_memcpy(swapped + ETH_ALEN, macs, ETH_ALEN);
	if (bpf_skb_store_bytes(skb, 0, swapped, sizeof(swapped), 0) < 0)
		return TC_ACT_SHOT;
	return bpf_redirect(skb->ifindex, 0);
}

#ifndef AF_INET
#define AF_INET 2
#endif

/*
 * Routes a reverse-NATed reply whose source is now one of this node's addresses (PR_CT_F_LOCAL_VIP) and
 * sends it out of the interface the FIB picks, the neighbour subsystem filling in the Ethernet header.
 * Left to the kernel (TC_ACT_OK) when the FIB has no forwarding answer.
 */
PR_INLINE int pr_route_reply(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct iphdr *ip = data + sizeof(struct ethhdr);
	struct bpf_fib_lookup fib = {};
	int rc;

	if ((void *)(ip + 1) > data_end)
		return TC_ACT_OK;
	fib.family = AF_INET;
	fib.tos = ip->tos;
	fib.l4_protocol = ip->protocol;
	fib.tot_len = bpf_ntohs(ip->tot_len);
	fib.ipv4_src = ip->saddr;
	fib.ipv4_dst = ip->daddr;
	fib.ifindex = skb->ifindex;
	rc = bpf_fib_lookup(skb, &fib, sizeof(fib), 0);
	if (rc == BPF_FIB_LKUP_RET_SUCCESS || rc == BPF_FIB_LKUP_RET_NO_NEIGH)
		return bpf_redirect_neigh(fib.ifindex, NULL, 0, 0);
	return TC_ACT_OK;
}

/* The source rewrite of a hairpin packet from the client: the hairpin address, the port kept. */
PR_INLINE int pr_hairpin_snat(struct __sk_buff *skb, const struct pr_pkt *p)
{
	return pr_rewrite_addr_port(skb, p->l4_off, p->proto, 1, p->saddr, pr_hairpin_addr(), p->sport, p->sport);
}

/*
 * A packet of a known flow, client -> VIP: DNAT to the flow's backend. `age`, `now`: pr_ct_age.
 * A due refresh refreshes the reverse entry too (pr_ct_touch_reverse), so that a backend that
 * answers only after a long silence still has its reply reverse-NATed.
 */
PR_INLINE int pr_forward_established(struct __sk_buff *skb, const struct pr_pkt *p,
				     const struct pr_ct_key4 *key, struct pr_ct_value4 *ct, int age, __u64 now)
{
	if (age == PR_CT_TOUCH) {
		ct->last_seen_ns = now;
		pr_ct_touch_reverse(key, ct, now);
	}
	if (p->proto == IPPROTO_TCP && (p->tcp_flags & (PR_TCP_FIN | PR_TCP_RST))) {
		pr_ct_tcp_advance(&ct->tcp_state, &ct->fin_seen, p->tcp_flags, 1);
		pr_ct_sync_reverse(key, ct);
	}
	if (pr_dnat(skb, p, ct->nat_addr, ct->nat_port) < 0 ||
	    ((ct->flags & PR_CT_F_HAIRPIN) && pr_hairpin_snat(skb, p) < 0)) {
		pr_count(PR_CNT_DROP_NAT_FAILED);
		return TC_ACT_SHOT;
	}
	pr_count(PR_CNT_NAT_ESTABLISHED);
	return (ct->flags & PR_CT_F_HAIRPIN) ? pr_hairpin_out(skb) : TC_ACT_OK;
}

/*
 * A reply, backend -> client: the source becomes the VIP:port the client talked to. The forward
 * entry owns the TCP state; a reply looks it up only when it may change that state (FIN, RST, the
 * handshake's answer) or when the refresh is due, and then refreshes the forward entry's
 * last_seen with its own, so the forward entry stays within PR_CT_REFRESH_NS of the flow's last
 * packet in either direction without a lookup and a write on every reply. UDP has no state to
 * follow, only the refresh: a backend that streams to a silent client keeps the flow (and so the
 * client's backend) alive, as a client that streams to a silent backend does (pr_ct_touch_reverse).
 */
PR_INLINE int pr_reverse(struct __sk_buff *skb, const struct pr_pkt *p, const struct pr_ct_key4 *key,
			 struct pr_ct_value4 *rev, int age, __u64 now)
{
	struct pr_ct_key4 fwd_key;
	struct pr_ct_value4 *fwd;

	if (age == PR_CT_TOUCH)
		rev->last_seen_ns = now;
	if (p->proto == IPPROTO_TCP && (age == PR_CT_TOUCH || (p->tcp_flags & (PR_TCP_FIN | PR_TCP_RST)) ||
					rev->tcp_state == PR_TCP_SYN_SENT)) {
		pr_ct_forward_of_reverse(&fwd_key, key, rev);
		fwd = bpf_map_lookup_elem(&pr_ct4, &fwd_key);
		if (fwd && fwd->type == PR_CT_FORWARD) {
			pr_ct_tcp_advance(&fwd->tcp_state, &fwd->fin_seen, p->tcp_flags, 0);
			rev->tcp_state = fwd->tcp_state;
			rev->fin_seen = fwd->fin_seen;
			if (age == PR_CT_TOUCH)
				fwd->last_seen_ns = now;
		} else {
			pr_ct_tcp_advance(&rev->tcp_state, &rev->fin_seen, p->tcp_flags, 0);
		}
	} else if (age == PR_CT_TOUCH) {
		pr_ct_forward_of_reverse(&fwd_key, key, rev);
		fwd = bpf_map_lookup_elem(&pr_ct4, &fwd_key);
		if (fwd && fwd->type == PR_CT_FORWARD && fwd->nat_addr == key->src && fwd->nat_port == key->sport)
			fwd->last_seen_ns = now;
	}
	if (pr_snat(skb, p, rev->nat_addr, rev->nat_port) < 0) {
		pr_count(PR_CNT_DROP_NAT_FAILED);
		return TC_ACT_SHOT;
	}
	if (rev->flags & PR_CT_F_HAIRPIN) {
		/* the reply goes to the hairpin address: back to the client, which is the backend itself */
		if (pr_rewrite_addr_port(skb, p->l4_off, p->proto, 0, p->daddr, key->src, p->dport, p->dport) < 0) {
			pr_count(PR_CNT_DROP_NAT_FAILED);
			return TC_ACT_SHOT;
		}
		pr_count(PR_CNT_NAT_REVERSE);
		return pr_hairpin_out(skb);
	}
	pr_count(PR_CNT_NAT_REVERSE);
	return (rev->flags & PR_CT_F_LOCAL_VIP) ? pr_route_reply(skb) : TC_ACT_OK;
}

/*
 * The first packet of a flow to a Service: balance (pr_lb.h's two halves, shared with the
 * socket hooks), remember, DNAT. Traffic to no Service leaves here without reading the clock.
 */
PR_INLINE int pr_new_flow(struct __sk_buff *skb, const struct pr_pkt *p, const struct pr_ct_key4 *key, int origin)
{
	struct pr_nat_fe_key4 fe_key = { .vip = p->daddr, .port = p->dport, .proto = p->proto };
	struct pr_lb_result lb = {};
	struct pr_nat_fe_value *fe;
	int verdict = PR_LB_NOT_SERVICE;
	__u8 ct_flags = 0;
	__u64 now = 0;

	fe = pr_lb_frontend4(&fe_key, &verdict);
	if (fe && origin == PR_LB_EXTERNAL && p->proto == IPPROTO_TCP &&
	    (p->tcp_flags & (PR_TCP_SYN | PR_TCP_ACK)) != PR_TCP_SYN) {
		pr_count(PR_CNT_PASS_NOT_NEW);
		return TC_ACT_OK;
	}
	if (fe) {
		now = bpf_ktime_get_ns();
		/* A 0.0.0.0 source is no client (the kernel drops it as a martian after us), and 0.0.0.0 is
		 * the host netns's affinity identity (PR_AFF_CLIENT_HOST): it must not reach pr_aff4 from a pod. */
		verdict = pr_lb_choose4(&fe_key, fe, p->saddr, p->saddr != PR_AFF_CLIENT_HOST, origin, now, &lb);
	}
	switch (verdict) {
	case PR_LB_CHOSEN:
		break;
	case PR_LB_SOURCE_DENIED:
		pr_count(PR_CNT_DROP_SOURCE_RANGE);
		return TC_ACT_SHOT;
	case PR_LB_NO_LOCAL:
		pr_count(PR_CNT_DROP_NO_LOCAL_BACKEND);
		return TC_ACT_SHOT;
	case PR_LB_NEEDS_CLIENT:
		pr_count(PR_CNT_DROP_AFFINITY_NO_CLIENT);
		return TC_ACT_SHOT;
	case PR_LB_UNKNOWN_SERVICE:
		return pr_reject(skb, p, PR_CNT_REJECT_UNKNOWN_SERVICE);
	case PR_LB_BACKEND_MISSING:
		return pr_reject(skb, p, PR_CNT_REJECT_BACKEND_MISSING);
	case PR_LB_NO_BACKENDS:
		return pr_reject(skb, p, 0);
	default: /* PR_LB_NOT_SERVICE */
		pr_count(PR_CNT_PASS_NO_SERVICE);
		return TC_ACT_OK;
	}
	if (lb.choice.from_affinity) {
		pr_count(PR_CNT_AFFINITY_HIT);
		ct_flags |= PR_CT_F_AFFINITY;
	}
	if (fe->kind == PR_FE_NODE_PORT)
		ct_flags |= PR_CT_F_LOCAL_VIP;
	if (origin == PR_LB_INTERNAL && lb.choice.addr == p->saddr) {
		pr_count(PR_CNT_NAT_HAIRPIN);
		ct_flags |= PR_CT_F_HAIRPIN;
	}

	if (pr_ct_create(key, lb.choice.addr, lb.choice.port, lb.svc_id, pr_ct_tcp_initial(p->proto, p->tcp_flags),
			 ct_flags, now) < 0)
		pr_count(PR_CNT_CT_CREATE_FAILED); /* still serve the packet; the next one retries */

	if (pr_dnat(skb, p, lb.choice.addr, lb.choice.port) < 0 ||
	    ((ct_flags & PR_CT_F_HAIRPIN) && pr_hairpin_snat(skb, p) < 0)) {
		pr_count(PR_CNT_DROP_NAT_FAILED);
		return TC_ACT_SHOT;
	}
	pr_count(PR_CNT_NAT_NEW_FLOW);
	return (ct_flags & PR_CT_F_HAIRPIN) ? pr_hairpin_out(skb) : TC_ACT_OK;
}

PR_INLINE int pr_icmp(struct __sk_buff *skb, const struct pr_pkt *p)
{
	int ret;

	if (pr_icmp_is_error(p->icmp_type)) {
		if (pr_icmp_quote_linear(skb, p) == PR_PARSE_PULL_FAILED) {
			pr_count(PR_CNT_DROP_PULL_FAILED);
			return TC_ACT_SHOT;
		}
		ret = pr_icmp_error_translate(skb, p);
		if (ret < 0) {
			pr_count(PR_CNT_DROP_NAT_FAILED);
			return TC_ACT_SHOT;
		}
		if (ret > 0) {
			pr_count(PR_CNT_ICMP_ERROR_TRANSLATED);
			return TC_ACT_OK;
		}
	}
	pr_count(PR_CNT_PASS_NO_SERVICE);
	return TC_ACT_OK;
}

/* Both ingress programs: `origin` (enum pr_lb_origin) is a constant, so each gets its own copy. */
PR_INLINE int pr_tc_nat(struct __sk_buff *skb, int origin)
{
	struct pr_pkt p = {};
	struct pr_ct_key4 key = {};
	struct pr_ct_value4 *ct;

	switch (pr_parse(skb, &p)) {
	case PR_PARSE_OK:
		break;
	case PR_PARSE_NOT_IPV4:
		pr_count(PR_CNT_PASS_NOT_IPV4);
		return TC_ACT_OK;
	case PR_PARSE_FRAGMENT:
		pr_count(PR_CNT_PASS_FRAGMENT);
		return TC_ACT_OK;
	case PR_PARSE_PULL_FAILED:
		pr_count(PR_CNT_DROP_PULL_FAILED);
		return TC_ACT_SHOT;
	default:
		pr_count(PR_CNT_DROP_MALFORMED);
		return TC_ACT_SHOT;
	}

	if (p.proto == IPPROTO_ICMP)
		return pr_icmp(skb, &p);
	if (p.proto != IPPROTO_TCP && p.proto != IPPROTO_UDP) {
		pr_count(PR_CNT_PASS_NO_SERVICE);
		return TC_ACT_OK;
	}

	key.src = p.saddr;
	key.dst = p.daddr;
	key.sport = p.sport;
	key.dport = p.dport;
	key.proto = p.proto;

	ct = bpf_map_lookup_elem(&pr_ct4, &key);
	if (ct) {
		__u64 now = 0;
		int age = pr_ct_age(ct, p.proto, &now);
		/* a new SYN on a closed flow's tuple is a new connection (port reuse) */
		int reused = p.proto == IPPROTO_TCP && ct->tcp_state == PR_TCP_CLOSED &&
			     (p.tcp_flags & (PR_TCP_SYN | PR_TCP_ACK)) == PR_TCP_SYN;

		if (ct->type == PR_CT_FORWARD) {
			if (age != PR_CT_EXPIRED && !reused)
				return pr_forward_established(skb, &p, &key, ct, age, now);
			pr_count(PR_CNT_CT_EXPIRED);
		} else if (ct->type == PR_CT_REVERSE) {
			if (age != PR_CT_EXPIRED)
				return pr_reverse(skb, &p, &key, ct, age, now);
			/* a stale reply mapping must not hijack a later direct flow on this tuple */
			bpf_map_delete_elem(&pr_ct4, &key);
			pr_count(PR_CNT_CT_EXPIRED);
		}
	}
	return pr_new_flow(skb, &p, &key, origin);
}

SEC("tc")
int pr_tc_from_wl(struct __sk_buff *skb)
{
	return pr_tc_nat(skb, PR_LB_INTERNAL);
}

SEC("tc")
int pr_tc_from_host(struct __sk_buff *skb)
{
	return pr_tc_nat(skb, PR_LB_EXTERNAL);
}

SEC("tc")
int pr_tc_pass(struct __sk_buff *skb)
{
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
