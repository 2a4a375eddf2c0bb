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
#include "pr_mss.h"
#include "pr_nat.h"
#include "pr_parse.h"
#include "pr_policy.h"
#include "pr_reject.h"
#include "pr_route.h"
#include "pr_tunnel.h"

/* Rejects a TCP or UDP packet; `reason` is counted on success (0: no backends). */
static __noinline int pr_reject(struct __sk_buff *skb, const struct pr_pkt *p, __u32 reason)
{
	if (p->proto == IPPROTO_TCP)
		return pr_reject_tcp(skb, p, reason ? reason : PR_CNT_REJECT_TCP_NO_BACKEND);
	return pr_reject_udp(skb, p, reason ? reason : PR_CNT_REJECT_UDP_NO_BACKEND);
}

/* Whether an SCTP packet is addressed to a Service's SCTP port (programmed, though the NAT cannot translate it). */
PR_INLINE int pr_sctp_frontend(const struct pr_pkt *p)
{
	struct pr_nat_fe_key4 fe_key = { .vip = p->daddr, .port = p->dport, .proto = IPPROTO_SCTP };

	return bpf_map_lookup_elem(&pr_nat_fe4, &fe_key) != NULL;
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

/*
 * Routes a translated packet the kernel's forwarding would drop, its source being one of this node's addresses
 * (a NodePort's reply, PR_CT_F_LOCAL_VIP; an SNATed packet) or its path ours to choose (the replies of remote
 * flows), out of the interface the FIB picks. Left to the kernel (TC_ACT_OK) when the FIB has no answer.
 */
PR_INLINE int pr_route_reply(struct __sk_buff *skb)
{
	int ret = pr_route_out(skb);

	return ret < 0 ? TC_ACT_OK : ret;
}

/* The ct flags whose packets pr_route_reply sends. */
#define PR_CT_F_ROUTED (PR_CT_F_LOCAL_VIP | PR_CT_F_SNAT | PR_CT_F_TUNNEL | PR_CT_F_DSR)

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
	struct pr_tunnel_cfg cfg = {};
	int tunnelled = ct->flags & (PR_CT_F_TUNNEL | PR_CT_F_DSR);

	if (tunnelled) {
		pr_tunnel_config(&cfg);
		if (pr_tunnel_too_big(skb, &cfg))
			return pr_too_big(skb, p, &cfg);
		/* DSR: this node never sees the backend's answer; the client's first ACK is the handshake's end */
		if ((ct->flags & PR_CT_F_DSR) && ct->tcp_state == PR_TCP_SYN_SENT && p->proto == IPPROTO_TCP &&
		    (p->tcp_flags & (PR_TCP_SYN | PR_TCP_ACK)) == PR_TCP_ACK) {
			ct->tcp_state = PR_TCP_ESTABLISHED;
			pr_ct_sync_reverse(key, ct);
		}
	}
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
	if (ct->flags & PR_CT_F_SNAT) {
		if (pr_snat(skb, p, ct->peer_addr, ct->peer_port) < 0) {
			pr_count(PR_CNT_DROP_NAT_FAILED);
			return TC_ACT_SHOT;
		}
		return pr_route_reply(skb);
	}
	if (tunnelled) {
		struct pr_encap_req req = {
			.peer = ct->tunnel_addr, .vip = key->dst, .port = key->dport, .proto = key->proto,
			.type = (ct->flags & PR_CT_F_DSR) ? PR_GENEVE_OPT_DSR4 : PR_GENEVE_OPT_TUNNEL4,
		};

		pr_clamp_syn(skb, p, cfg.mtu);
		return pr_encap4(skb, &cfg, &req);
	}
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
	if (pr_snat(skb, p, rev->nat_addr, rev->nat_port) < 0 ||
	    ((rev->flags & PR_CT_F_SNAT) && pr_dnat(skb, p, rev->peer_addr, rev->peer_port) < 0)) {
		pr_count(PR_CNT_DROP_NAT_FAILED);
		return TC_ACT_SHOT;
	}
	if (rev->flags & PR_CT_F_DSR) {
		/* the backend's node of a DSR flow: the answer goes straight to the client, from the frontend */
		struct pr_tunnel_cfg cfg;

		pr_tunnel_config(&cfg);
		pr_clamp_syn(skb, p, cfg.mtu);
		pr_count(PR_CNT_DSR_REPLY);
		return pr_route_reply(skb);
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
	return (rev->flags & PR_CT_F_ROUTED) ? pr_route_reply(skb) : TC_ACT_OK;
}

/*
 * The backend's node of a tunnel-mode flow: a reply of the backend goes back through the tunnel to the ingress
 * node, which reverse-NATs it (no NAT here). The entry follows the reply side of the TCP state.
 */
PR_INLINE int pr_tunnel_return(struct __sk_buff *skb, const struct pr_pkt *p, struct pr_ct_value4 *ct, int age,
			       __u64 now)
{
	struct pr_tunnel_cfg cfg;

	pr_tunnel_config(&cfg);
	if (pr_tunnel_too_big(skb, &cfg))
		return pr_too_big(skb, p, &cfg);
	if (age == PR_CT_TOUCH)
		ct->last_seen_ns = now;
	if (p->proto == IPPROTO_TCP && ((p->tcp_flags & (PR_TCP_FIN | PR_TCP_RST)) || ct->tcp_state == PR_TCP_SYN_SENT))
		pr_ct_tcp_advance(&ct->tcp_state, &ct->fin_seen, p->tcp_flags, 0);
	struct pr_encap_req req = { .peer = ct->tunnel_addr, .type = PR_GENEVE_OPT_REPLY4, .proto = p->proto };

	pr_clamp_syn(skb, p, cfg.mtu);
	return pr_encap4(skb, &cfg, &req);
}

/*
 * The backend's node, a packet just decapsulated (tunnel or DSR option): the entry its replies need, keyed by
 * the reply's tuple. Refreshed like any entry while it matches; written anew when it is missing, expired,
 * another flow's, or a closed TCP flow's tuple reused by a new SYN.
 * Inlined into pr_from_tunnel: as a third call level its frame (rounded up by the verifier) put
 * pr_tc_from_host -> pr_from_tunnel -> pr_tunnel_track over the 512-byte combined stack limit.
 */
PR_INLINE void pr_tunnel_track(const struct pr_pkt *in, __be32 peer, const struct pr_geneve_opt4 *opt)
{
	struct pr_ct_key4 key = {
		.src = in->daddr, .dst = in->saddr, .sport = in->dport, .dport = in->sport, .proto = in->proto,
	};
	int dsr = opt->type == PR_GENEVE_OPT_DSR4;
	__u8 type = dsr ? PR_CT_REVERSE : PR_CT_TUNNEL_RETURN;
	__u8 flags = dsr ? PR_CT_F_DSR : PR_CT_F_TUNNEL;
	__be32 nat_addr = dsr ? opt->vip : in->daddr;
	__be16 nat_port = dsr ? opt->port : in->dport;
	struct pr_ct_value4 *ct = bpf_map_lookup_elem(&pr_ct4, &key);
	struct pr_ct_value4 fresh = {};
	__u64 now = 0;

	if (ct && ct->type == type && ct->flags == flags && ct->tunnel_addr == peer && ct->nat_addr == nat_addr &&
	    ct->nat_port == nat_port) {
		int age = pr_ct_age(ct, in->proto, &now);
		int reused = in->proto == IPPROTO_TCP && ct->tcp_state == PR_TCP_CLOSED &&
			     (in->tcp_flags & (PR_TCP_SYN | PR_TCP_ACK)) == PR_TCP_SYN;

		if (age != PR_CT_EXPIRED && !reused) {
			if (age == PR_CT_TOUCH)
				ct->last_seen_ns = now;
			if (in->proto == IPPROTO_TCP && (in->tcp_flags & (PR_TCP_FIN | PR_TCP_RST)))
				pr_ct_tcp_advance(&ct->tcp_state, &ct->fin_seen, in->tcp_flags, 1);
			return;
		}
	}
	if (!now)
		now = bpf_ktime_get_ns();
	fresh.created_ns = now;
	fresh.last_seen_ns = now;
	fresh.type = type;
	fresh.tcp_state = pr_ct_tcp_initial(in->proto, in->tcp_flags);
	fresh.flags = flags;
	fresh.nat_addr = nat_addr;
	fresh.nat_port = nat_port;
	fresh.tunnel_addr = peer;
	if (bpf_map_update_elem(&pr_ct4, &key, &fresh, BPF_ANY) < 0)
		pr_count(PR_CNT_CT_CREATE_FAILED);
}

/* The external service mode of a frontend: its annotation's, else pr_config's. */
PR_INLINE __u32 pr_ext_mode(__u32 fe_flags, __u32 configured)
{
	if (fe_flags & PR_FE_F_MODE_SNAT)
		return PR_EXT_MODE_SNAT;
	if (fe_flags & PR_FE_F_MODE_TUNNEL)
		return PR_EXT_MODE_TUNNEL;
	if (fe_flags & PR_FE_F_MODE_DSR)
		return PR_EXT_MODE_DSR;
	return configured;
}

#define PR_SNAT_TRIES 32

/*
 * A source port of the SNAT range for a new flow from this node to backend:bport: random, so that flows spread
 * over the range, and free, i.e. no conntrack entry holds the reply tuple {backend, node, bport, port}; a closed
 * flow holds it through the backend's TIME_WAIT (PR_SNAT_TIME_WAIT_S), so the range runs fuller than the open
 * flows alone would fill it. Every try draws a port of its own: consecutive ports from one random start (linear
 * probing) made runs of busy ports that grow with every flow landing in them, so the tries failed together far more
 * often than the range's fill suggests (one drop_snat_ports in a benchmark of 6,000 flows with the range at most
 * 60 % full; simulated, 6,000 flows into 10,000 ports: 0.7 failures with 32 consecutive tries, 0.0 with 32
 * independent ones, 78 and 11 with 8). Drawn independently, all 32 fail with probability fill^32: for fewer than one new flow in 10,000 with
 * the range 75 % full, one in 180 at 85 %. A try is a random number and one hash lookup, made only while the ports
 * drawn are busy: about two per new flow with the range half full.
 */
PR_INLINE int pr_snat_port(__u8 proto, __be32 node, __be32 backend, __be16 bport, const struct pr_tunnel_cfg *cfg,
			   __be16 *out)
{
	__u32 range = (__u32)cfg->snat_max - cfg->snat_min + 1;
	struct pr_ct_key4 rev = { .src = backend, .dst = node, .sport = bport, .proto = proto };
	int i;

	for (i = 0; i < PR_SNAT_TRIES; i++) {
		rev.dport = bpf_htons(cfg->snat_min + bpf_get_prandom_u32() % range);
		if (!bpf_map_lookup_elem(&pr_ct4, &rev)) {
			*out = rev.dport;
			return 0;
		}
	}
	return -1;
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
	struct pr_ct_remote remote = {};
	struct pr_tunnel_cfg cfg = {};
	int verdict = PR_LB_NOT_SERVICE;
	__u8 ct_flags = 0;
	__u8 kind = PR_FE_CLUSTER_IP;
	__u64 now = 0;

	/* a pod's flow to a plain ClusterIP: its slot in pr_nat_direct4, else the hash lookups below */
	if (origin == PR_LB_INTERNAL && pr_lb_direct4(&fe_key, &lb)) {
		verdict = PR_LB_CHOSEN;
		goto chosen;
	}
	fe = pr_lb_frontend4(&fe_key, &verdict);
	if (fe && origin == PR_LB_EXTERNAL && p->proto == IPPROTO_TCP &&
	    (p->tcp_flags & (PR_TCP_SYN | PR_TCP_ACK)) != PR_TCP_SYN) {
		pr_count(PR_CNT_PASS_NOT_NEW);
		return TC_ACT_OK;
	}
	if (fe) {
		kind = fe->kind;
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
		if (origin == PR_LB_INTERNAL && !pr_pol_egress(p, p->daddr, p->dport, 0))
			return TC_ACT_SHOT;
		pr_count(PR_CNT_PASS_NO_SERVICE);
		return TC_ACT_OK;
	}
chosen:
	/* NetworkPolicy applies to the chosen backend, before anything is remembered (a denied flow leaves no entry) */
	if (origin == PR_LB_INTERNAL && !pr_pol_egress(p, lb.choice.addr, lb.choice.port, 1))
		return TC_ACT_SHOT;
	if (lb.choice.from_affinity) {
		pr_count(PR_CNT_AFFINITY_HIT);
		ct_flags |= PR_CT_F_AFFINITY;
	}
	if (kind == PR_FE_NODE_PORT)
		ct_flags |= PR_CT_F_LOCAL_VIP;
	if (origin == PR_LB_INTERNAL && lb.choice.addr == p->saddr) {
		pr_count(PR_CNT_NAT_HAIRPIN);
		ct_flags |= PR_CT_F_HAIRPIN;
	}
	if (origin == PR_LB_EXTERNAL) {
		/* from outside, to a backend on another node: the external service mode decides the path */
		struct pr_route_value *route = pr_route_of4(lb.choice.addr);
		__be32 backend_node = route && (route->flags & PR_ROUTE_F_REMOTE) ? route->node_addr4 : 0;
		/* A host-network backend (the node's own address) answers from the node's stack, past every hook
		 * of ours: neither a tunnel return nor a DSR rewrite can reach its replies. SNAT brings them back. */
		int host_network = route && (route->flags & PR_ROUTE_F_NODE);

		if (backend_node) {
			pr_tunnel_config(&cfg);
			if (cfg.node_addr) {
				__u32 mode = host_network ? PR_EXT_MODE_SNAT : pr_ext_mode(lb.fe_flags, cfg.ext_mode);

				if (mode == PR_EXT_MODE_SNAT) {
					if (pr_snat_port(p->proto, cfg.node_addr, lb.choice.addr, lb.choice.port, &cfg,
							 &remote.peer_port) < 0) {
						pr_count(PR_CNT_DROP_SNAT_PORTS);
						return TC_ACT_SHOT;
					}
					remote.peer_addr = cfg.node_addr;
					ct_flags |= PR_CT_F_SNAT;
				} else {
					if (pr_tunnel_too_big(skb, &cfg))
						return pr_too_big(skb, p, &cfg);
					remote.tunnel_addr = backend_node;
					ct_flags |= mode == PR_EXT_MODE_DSR ? PR_CT_F_DSR : PR_CT_F_TUNNEL;
				}
			}
		}
	}

	if (!now) /* the fast path reads the clock only here, after its slot */
		now = bpf_ktime_get_ns();
	if (pr_ct_create(key, lb.choice.addr, lb.choice.port, lb.svc_id, pr_ct_tcp_initial(p->proto, p->tcp_flags),
			 ct_flags, now, &remote) < 0)
		pr_count(PR_CNT_CT_CREATE_FAILED); /* still serve the packet; the next one retries */

	if (pr_dnat(skb, p, lb.choice.addr, lb.choice.port) < 0 ||
	    ((ct_flags & PR_CT_F_HAIRPIN) && pr_hairpin_snat(skb, p) < 0) ||
	    ((ct_flags & PR_CT_F_SNAT) && pr_snat(skb, p, remote.peer_addr, remote.peer_port) < 0)) {
		pr_count(PR_CNT_DROP_NAT_FAILED);
		return TC_ACT_SHOT;
	}
	pr_count(PR_CNT_NAT_NEW_FLOW);
	if (ct_flags & PR_CT_F_SNAT) {
		pr_count(PR_CNT_NAT_SNAT);
		return pr_route_reply(skb);
	}
	if (ct_flags & (PR_CT_F_TUNNEL | PR_CT_F_DSR)) {
		struct pr_encap_req req = {
			.peer = remote.tunnel_addr, .vip = p->daddr, .port = p->dport, .proto = p->proto,
			.type = (ct_flags & PR_CT_F_DSR) ? PR_GENEVE_OPT_DSR4 : PR_GENEVE_OPT_TUNNEL4,
		};

		pr_clamp_syn(skb, p, cfg.mtu);
		return pr_encap4(skb, &cfg, &req);
	}
	return (ct_flags & PR_CT_F_HAIRPIN) ? pr_hairpin_out(skb) : TC_ACT_OK;
}

PR_INLINE int pr_icmp(struct __sk_buff *skb, const struct pr_pkt *p, int origin)
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
	} else if (origin == PR_LB_INTERNAL && !pr_pol_egress(p, p->daddr, 0, 0)) {
		/* echo and the rest: NetworkPolicy's "other protocols" (errors are about flows: related, passed) */
		return TC_ACT_SHOT;
	}
	pr_count(PR_CNT_PASS_NO_SERVICE);
	return TC_ACT_OK;
}

/* pr_from_tunnel's answer for a backend's reply come back: the inner packet is parsed, go on with it. */
#define PR_TUNNEL_REPLY (-1)

/*
 * A Geneve packet from another node (host interfaces only): checked (its source must be a node, the header
 * ours), decapsulated and the inner packet parsed into *pkt. Then: a backend's reply coming back (REPLY)
 * returns PR_TUNNEL_REPLY, for the caller to reverse-NAT by its flow's reverse entry like any reply; a flow
 * for a local backend (TUNNEL, DSR) gets the entry its replies need and goes on to the pod through the
 * kernel's forwarding, as if it had arrived unencapsulated.
 */
static __noinline int pr_from_tunnel(struct __sk_buff *skb, struct pr_pkt *pkt, const struct pr_tunnel_cfg *cfg)
{
	struct pr_route_value *peer = pr_route_of4(pkt->saddr);
	__be32 peer_addr = pkt->saddr;
	struct pr_geneve_opt4 opt = {};
	struct pr_route_value *dest;

	if (!peer || !(peer->flags & PR_ROUTE_F_NODE) || (peer->flags & PR_ROUTE_F_LOCAL)) {
		pr_count(PR_CNT_DROP_TUNNEL_PEER);
		return TC_ACT_SHOT;
	}
	switch (pr_decap4(skb, pkt, cfg, &opt)) {
	case PR_DECAP_OK:
		break;
	case PR_DECAP_NOT_OURS:
		pr_count(PR_CNT_PASS_NO_SERVICE);
		return TC_ACT_OK;
	default:
		pr_count(PR_CNT_DROP_TUNNEL_FAILED);
		return TC_ACT_SHOT;
	}
	pr_count(PR_CNT_TUNNEL_DECAP);
	/* the outer packet's parse is done with: the inner one takes its place */
	if (pr_parse(skb, pkt) != PR_PARSE_OK || (pkt->proto != IPPROTO_TCP && pkt->proto != IPPROTO_UDP)) {
		pr_count(PR_CNT_DROP_MALFORMED);
		return TC_ACT_SHOT;
	}
	if (opt.type == PR_GENEVE_OPT_REPLY4)
		return PR_TUNNEL_REPLY;
	dest = pr_route_of4(pkt->daddr);
	if (!dest || !(dest->flags & PR_ROUTE_F_LOCAL) ||
	    (opt.type != PR_GENEVE_OPT_TUNNEL4 && opt.type != PR_GENEVE_OPT_DSR4)) {
		pr_count(PR_CNT_DROP_TUNNEL_MISROUTED);
		return TC_ACT_SHOT;
	}
	pr_tunnel_track(pkt, peer_addr, &opt);
	return TC_ACT_OK;
}

/* Both ingress programs: `origin` (enum pr_lb_origin) is a constant, so each gets its own copy. */
PR_INLINE int pr_tc_nat(struct __sk_buff *skb, int origin)
{
	struct pr_pkt p = {};
	struct pr_ct_key4 key = {};
	struct pr_ct_value4 *ct;
	int from_tunnel = 0;

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
		return pr_icmp(skb, &p, origin);
	if (p.proto != IPPROTO_TCP && p.proto != IPPROTO_UDP) {
		/* SCTP is not translated (its CRC32c covers the ports): a Service's SCTP port is refused, not
		 * passed on to the VIP, where it would hang. */
		if (p.proto == IPPROTO_SCTP && pr_sctp_frontend(&p))
			return pr_icmp_unreach(skb, &p, ICMP_PORT_UNREACH, 0, PR_CNT_REJECT_SCTP_SERVICE);
		if (origin == PR_LB_INTERNAL && !pr_pol_egress(&p, p.daddr, p.dport, 0))
			return TC_ACT_SHOT;
		pr_count(PR_CNT_PASS_NO_SERVICE);
		return TC_ACT_OK;
	}

	if (origin == PR_LB_EXTERNAL && p.proto == IPPROTO_UDP) {
		struct pr_tunnel_cfg cfg;

		pr_tunnel_config(&cfg);
		if (pr_is_tunnel_packet(&p, &cfg)) {
			int ret = pr_from_tunnel(skb, &p, &cfg);

			if (ret != PR_TUNNEL_REPLY)
				return ret;
			from_tunnel = 1;
		}
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
		} else if (ct->type == PR_CT_TUNNEL_RETURN) {
			if (age != PR_CT_EXPIRED)
				return pr_tunnel_return(skb, &p, ct, age, now);
			bpf_map_delete_elem(&pr_ct4, &key);
			pr_count(PR_CNT_CT_EXPIRED);
		}
	}
	if (from_tunnel) {
		/* a reply whose flow this node does not know (any more): nowhere to send it */
		pr_count(PR_CNT_DROP_TUNNEL_MISROUTED);
		return TC_ACT_SHOT;
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

/*
 * TC egress on the host side of a workload veth: packets going to the pod. Only NetworkPolicy's ingress check:
 * a pod without a pr_pol_ep4 entry costs the parse and one hash lookup. The node's own packets (kubelet probes:
 * no ingress interface, the kernel's skb_iif is 0 for a locally generated packet) are always allowed, and
 * approved so that their replies pass an isolated egress. ICMP errors (about a flow) pass. The hairpin
 * address (a pod reaching itself through a Service) stands for the pod itself. Not IPv4 and non-first
 * fragments pass, as in pr_tc_from_wl. Counts only drops and checks, never a plain pass.
 */
SEC("tc")
int pr_tc_to_wl(struct __sk_buff *skb)
{
	struct pr_pkt p = {};
	struct pr_pol_flow f = {};
	struct pr_pol_ep *ep;

	switch (pr_parse(skb, &p)) {
	case PR_PARSE_OK:
		break;
	case PR_PARSE_NOT_IPV4:
	case PR_PARSE_FRAGMENT:
		return TC_ACT_OK;
	case PR_PARSE_PULL_FAILED:
		pr_count(PR_CNT_DROP_PULL_FAILED);
		return TC_ACT_SHOT;
	default:
		pr_count(PR_CNT_DROP_MALFORMED);
		return TC_ACT_SHOT;
	}
	ep = pr_pol_endpoint(p.daddr);
	if (!ep)
		return TC_ACT_OK;
	if (p.proto == IPPROTO_ICMP && pr_icmp_is_error(p.icmp_type))
		return TC_ACT_OK;
	f.ep_addr = p.daddr;
	f.peer_addr = p.saddr;
	f.ep_port = p.dport;
	f.peer_port = p.sport;
	f.proto = p.proto;
	f.tcp_flags = p.tcp_flags;
	f.to_ep = 1;
	f.from_host = skb->ingress_ifindex == 0;
	return pr_pol_flow_allowed(&f, ep) ? TC_ACT_OK : TC_ACT_SHOT;
}

SEC("tc")
int pr_tc_pass(struct __sk_buff *skb)
{
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
