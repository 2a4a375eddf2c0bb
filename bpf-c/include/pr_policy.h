/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * pr_policy.h — NetworkPolicy at a pod's veth (pr_map_abi.h "NetworkPolicy"; bpf-c/README.md "Policy").
 *
 * pr_pol_check: the verdict of one rule set for one packet, two LPM lookups whatever the number of rules
 * (protocol + port -> port class, then class + peer -> allow/deny; a miss in either denies).
 * pr_pol_flow_allowed: the per-flow part around it, for an endpoint of this node that has a pr_pol_ep4 entry:
 * a flow the endpoint already approved passes without a check (pr_pol_ct4), so do the replies of the NAT flows it
 * opened (pr_ct4's forward entry); a new flow is checked when its direction is isolated, then approved.
 * Callers look the endpoint up first: a pod without an entry costs that one hash lookup and nothing else.
 */
#ifndef PR_POLICY_H
#define PR_POLICY_H

#include "pr_common.h"
#include "pr_conntrack.h"
#include "pr_parse.h"

enum pr_pol_result {
	PR_POL_PASS = 0,
	PR_POL_DENY_PORT = 1, /* no rule of the set covers the protocol and port */
	PR_POL_DENY_PEER = 2, /* the port's class does not allow the peer (no prefix, or an except) */
};

/* Bits after the prefixlen field of a full-length lookup key (pr_map_abi.h). */
#define PR_POL_PORT_KEY_BITS 64
#define PR_POL_PEER_KEY_BITS 96

/* One rule set's verdict for (protocol, destination port, peer address). */
PR_INLINE int pr_pol_check(__u32 set, __u8 proto, __be16 port, __be32 peer)
{
	struct pr_pol_port_key port_key = { .prefixlen = PR_POL_PORT_KEY_BITS, .set = set };
	struct pr_pol_peer_key4 peer_key = { .prefixlen = PR_POL_PEER_KEY_BITS, .set = set, .addr = peer };
	struct pr_pol_port_value *port_class;
	struct pr_pol_peer_value *verdict;

	if (proto == IPPROTO_TCP || proto == IPPROTO_UDP || proto == IPPROTO_SCTP) {
		port_key.proto = proto;
		port_key.port = port;
	} else {
		port_key.proto = PR_POL_PROTO_OTHER; /* port 0: the protocol's whole class */
	}
	port_class = bpf_map_lookup_elem(&pr_pol_ports4, &port_key);
	if (!port_class)
		return PR_POL_DENY_PORT;
	peer_key.port_class = port_class->port_class;
	verdict = bpf_map_lookup_elem(&pr_pol_peers4, &peer_key);
	if (!verdict || verdict->verdict != PR_POL_ALLOW)
		return PR_POL_DENY_PEER;
	return PR_POL_PASS;
}

/* One packet of a flow, seen from an endpoint of this node: what pr_pol_flow_allowed decides on. */
struct pr_pol_flow {
	__be32 ep_addr;   /* the endpoint (a pod of this node with a pr_pol_ep4 entry) */
	__be32 peer_addr; /* the other end (egress: after the Service translation) */
	__be16 ep_port;   /* NBO: the endpoint's port (0 for protocols without ports) */
	__be16 peer_port; /* NBO */
	__u8 proto;
	__u8 tcp_flags;
	__u8 to_ep;       /* 1: the packet goes to the endpoint (ingress), 0: it leaves it (egress) */
	__u8 from_host;   /* to_ep only: the node itself sent it (always allowed) */
	__u8 nat_flow;    /* egress only: a Service flow's first packet; pr_ct4 will track it, nothing to write here */
	__u8 pad[3];
};

/*
 * The peer the rules are asked about: the other end, except that a hairpin packet (a pod reaching itself through a
 * Service, from pr_config's hairpin address) comes from the pod itself. Read on the check's path only.
 */
PR_INLINE __be32 pr_pol_check_peer(const struct pr_pol_flow *f)
{
	return f->to_ep && f->peer_addr == pr_hairpin_addr() ? f->ep_addr : f->peer_addr;
}

/* The policy conntrack key of a flow, and which end of it the endpoint is (1: end a). */
PR_INLINE int pr_pol_ct_key(struct pr_pol_ct_key4 *key, const struct pr_pol_flow *f)
{
	int ep_is_a = bpf_ntohl(f->ep_addr) < bpf_ntohl(f->peer_addr) ||
		      (f->ep_addr == f->peer_addr && bpf_ntohs(f->ep_port) <= bpf_ntohs(f->peer_port));

	key->addr_a = ep_is_a ? f->ep_addr : f->peer_addr;
	key->addr_b = ep_is_a ? f->peer_addr : f->ep_addr;
	key->port_a = ep_is_a ? f->ep_port : f->peer_port;
	key->port_b = ep_is_a ? f->peer_port : f->ep_port;
	key->proto = f->proto;
	key->pad[0] = key->pad[1] = key->pad[2] = 0;
	return ep_is_a;
}

/*
 * Whether a tracked entry is still alive, refreshing its last_seen when due: the two clocks of pr_ct_age, so that a
 * flow's packets write nothing within PR_CT_REFRESH_NS. TCP keeps the established timeout (the entry follows no TCP
 * state: a SYN is checked anyway), UDP and the rest their own.
 */
PR_INLINE int pr_pol_ct_alive(struct pr_pol_ct_value4 *v, __u8 proto)
{
	__u64 last_seen = v->last_seen_ns;
	__u64 now;

#if PR_COMPAT
	now = bpf_ktime_get_ns();
	if (now < last_seen + PR_CT_REFRESH_NS)
		return 1;
#else
	if (bpf_ktime_get_coarse_ns() < last_seen + PR_CT_REFRESH_NS)
		return 1;
	now = bpf_ktime_get_ns();
#endif
	if (now > last_seen && now - last_seen > pr_ct_state_timeout_ns(proto, PR_TCP_ESTABLISHED, 0))
		return 0;
	v->last_seen_ns = now;
	return 1;
}

/*
 * A reply of a NAT flow the endpoint opened, at its veth: reverse-NATed already (VIP:port -> endpoint), so its
 * reversed tuple is the flow's pr_ct4 forward key. The forward entry exists only for a flow the endpoint's egress
 * allowed when it began (pr_tc_from_wl checks before it creates the pair), or that began before it was isolated.
 */
PR_INLINE int pr_pol_nat_reply(const struct pr_pol_flow *f)
{
	struct pr_ct_key4 fwd = {
		.src = f->ep_addr, .dst = f->peer_addr, .sport = f->ep_port, .dport = f->peer_port, .proto = f->proto,
	};
	struct pr_ct_value4 *ct = bpf_map_lookup_elem(&pr_ct4, &fwd);

	return ct && ct->type == PR_CT_FORWARD;
}

/*
 * The decision for an endpoint that has a pr_pol_ep4 entry: 1 allow, 0 drop (counted here). Approved flows pass
 * without a check, so a policy change leaves them alone; the check runs for a flow's first packet in its
 * direction (and for every TCP SYN without ACK).
 */
static __noinline int pr_pol_flow_allowed(const struct pr_pol_flow *f, const struct pr_pol_ep *ep)
{
	struct pr_pol_ct_key4 key;
	struct pr_pol_ct_value4 *ct;
	struct pr_pol_ct_value4 fresh = {};
	int ep_is_a = pr_pol_ct_key(&key, f);
	__u32 mine = ep_is_a ? PR_POL_CT_F_A_OK : PR_POL_CT_F_B_OK;
	int syn = f->proto == IPPROTO_TCP && (f->tcp_flags & (PR_TCP_SYN | PR_TCP_ACK)) == PR_TCP_SYN;
	int alive;
	__u32 set;
	int verdict;

	ct = bpf_map_lookup_elem(&pr_pol_ct4, &key);
	alive = ct && pr_pol_ct_alive(ct, f->proto);
	if (alive && !syn && (ct->flags & mine))
		return 1;
	if (f->to_ep && !syn && pr_pol_nat_reply(f))
		return 1;

	set = f->to_ep ? ep->ingress_set : ep->egress_set;
	if (set && !f->from_host) {
		verdict = pr_pol_check(set, f->proto, f->to_ep ? f->ep_port : f->peer_port, pr_pol_check_peer(f));
		if (verdict != PR_POL_PASS) {
			if (f->to_ep)
				pr_count(verdict == PR_POL_DENY_PORT ? PR_CNT_DROP_POLICY_INGRESS_PORT
								     : PR_CNT_DROP_POLICY_INGRESS_PEER);
			else
				pr_count(verdict == PR_POL_DENY_PORT ? PR_CNT_DROP_POLICY_EGRESS_PORT
								     : PR_CNT_DROP_POLICY_EGRESS_PEER);
			return 0;
		}
		pr_count(f->to_ep ? PR_CNT_POLICY_INGRESS_ALLOWED : PR_CNT_POLICY_EGRESS_ALLOWED);
	}
	/* a NAT flow's packets hit pr_ct4 before any policy code, its reply is known by the forward entry */
	if (f->nat_flow)
		return 1;

	/* approved: add this end's bit to a live entry; a SYN from the endpoint starts the tuple afresh */
	if (alive && !(syn && !f->to_ep)) {
		ct->flags |= mine;
		return 1;
	}
	fresh.last_seen_ns = bpf_ktime_get_ns();
	fresh.flags = mine;
	/* the initiator: the endpoint when the packet leaves it, else the peer */
	if (f->to_ep ? !ep_is_a : ep_is_a)
		fresh.flags |= PR_POL_CT_F_A_INITIATED;
	if (bpf_map_update_elem(&pr_pol_ct4, &key, &fresh, BPF_ANY) < 0)
		pr_count(PR_CNT_CT_CREATE_FAILED); /* still allowed; the next packet is checked again */
	return 1;
}

/* The endpoint entry of an address: only pods of this node that have one are policed. */
PR_INLINE struct pr_pol_ep *pr_pol_endpoint(__be32 addr)
{
	struct pr_pol_ep_key4 key = { .addr = addr };

	return bpf_map_lookup_elem(&pr_pol_ep4, &key);
}

/*
 * The egress check of pr_tc_from_wl, for a packet leaving a pod that opens no NAT flow, or (nat_flow) a NAT flow's
 * first packet after the backend was chosen (peer = the backend, not the VIP). 1 allow, 0 drop.
 */
PR_INLINE int pr_pol_egress(const struct pr_pkt *p, __be32 peer, __be16 peer_port, int nat_flow)
{
	struct pr_pol_ep *ep = pr_pol_endpoint(p->saddr);
	struct pr_pol_flow f = {};

	if (!ep)
		return 1;
	f.ep_addr = p->saddr;
	f.peer_addr = peer;
	f.ep_port = p->sport;
	f.peer_port = peer_port;
	f.proto = p->proto;
	f.tcp_flags = p->tcp_flags;
	f.nat_flow = nat_flow;
	return pr_pol_flow_allowed(&f, ep);
}

#endif /* PR_POLICY_H */
