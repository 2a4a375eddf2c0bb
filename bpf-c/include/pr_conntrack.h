/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * pr_conntrack.h — conntrack for NATed flows: timeouts per protocol and TCP state, the TCP
 * state machine, creation of the forward/reverse entry pair, and the key derivations
 * between them (see struct pr_ct_key4 in pr_map_abi.h).
 */
#ifndef PR_CONNTRACK_H
#define PR_CONNTRACK_H

#include "pr_common.h"
#include "pr_parse.h"

PR_INLINE __u32 pr_or_default(__u32 configured, __u32 fallback)
{
	return configured ? configured : fallback;
}

/*
 * Whether a closed entry keeps its SNAT port through the backend's TIME_WAIT (PR_SNAT_TIME_WAIT_S): a SNATed TCP
 * flow closed by FINs both ways. Both entries of the flow qualify (the reverse entry carries the flags and follows
 * the state, pr_ct_sync_reverse), so whichever the sweeper or a packet looks at, the port stays reserved.
 */
PR_INLINE int pr_ct_holds_snat_time_wait(const struct pr_ct_value4 *v)
{
	return (v->flags & PR_CT_F_SNAT) && v->tcp_state == PR_TCP_CLOSED &&
	       v->fin_seen == (PR_CT_FIN_FROM_CLIENT | PR_CT_FIN_FROM_BACKEND);
}

/* Idle timeout in nanoseconds of a flow of this protocol in this TCP state, from pr_config (zero fields:
 * defaults). The policy conntrack (pr_policy.h) uses it directly; NAT entries go through pr_ct_timeout_ns. */
PR_INLINE __u64 pr_ct_state_timeout_ns(__u8 proto, __u8 tcp_state, int snat_time_wait)
{
	__u32 zero = 0;
	struct pr_config *cfg = bpf_map_lookup_elem(&pr_config, &zero);
	__u32 seconds;

	if (proto == IPPROTO_TCP) {
		if (tcp_state == PR_TCP_SYN_SENT) {
			seconds = pr_or_default(cfg ? cfg->tcp_syn_timeout_s : 0,
						PR_DEFAULT_TCP_SYN_TIMEOUT_S);
		} else if (tcp_state == PR_TCP_CLOSED) {
			seconds = pr_or_default(cfg ? cfg->tcp_closing_timeout_s : 0,
						PR_DEFAULT_TCP_CLOSING_TIMEOUT_S);
			if (seconds < PR_SNAT_TIME_WAIT_S && snat_time_wait)
				seconds = PR_SNAT_TIME_WAIT_S;
		} else { /* established, or half closed: a half-closed stream may idle long */
			seconds = pr_or_default(cfg ? cfg->tcp_established_timeout_s : 0,
						PR_DEFAULT_TCP_ESTABLISHED_TIMEOUT_S);
		}
	} else if (proto == IPPROTO_UDP) {
		seconds = pr_or_default(cfg ? cfg->udp_timeout_s : 0, PR_DEFAULT_UDP_TIMEOUT_S);
	} else {
		seconds = pr_or_default(cfg ? cfg->generic_timeout_s : 0,
					PR_DEFAULT_GENERIC_TIMEOUT_S);
	}
	return (__u64)seconds * PR_NS_PER_SEC;
}

/* Idle timeout of a NAT conntrack entry in nanoseconds (a closed SNAT flow keeps its port, see above). */
PR_INLINE __u64 pr_ct_timeout_ns(__u8 proto, const struct pr_ct_value4 *v)
{
	return pr_ct_state_timeout_ns(proto, v->tcp_state, pr_ct_holds_snat_time_wait(v));
}

/*
 * last_seen is refreshed coarsely. A packet of a tracked flow writes its entry's last_seen only
 * when that is PR_CT_REFRESH_NS old or more, and during the TCP handshake (SYN_SENT: a few
 * packets, refreshed every time). Writing it on every packet dirtied the entry's cache line on
 * every packet, and made every TCP reply look up and write the forward entry as well (a lookup
 * per reply, and on a many-core node the CPUs of the two directions of a flow passing that line
 * back and forth; Cilium keeps its conntrack lifetime to the second for the same reason; the
 * reply side is in tc_nat.bpf.c's pr_reverse, and a due forward refresh refreshes the reverse
 * entry, pr_ct_touch_reverse). What it means: last_seen lags the flow's
 * last packet by less than PR_CT_REFRESH_NS plus a clock tick (see pr_ct_age), so an idle flow
 * expires up to that much early: between (timeout - PR_CT_REFRESH_NS - a tick) and timeout after
 * its last packet. Timeouts are whole seconds, at least 1 s, so an entry younger than the interval
 * is never expired.
 */
#define PR_CT_REFRESH_NS (100ull * 1000 * 1000)

enum pr_ct_age {
	PR_CT_FRESH = 0,   /* alive, last_seen recent: nothing to write */
	PR_CT_TOUCH = 1,   /* alive, last_seen due: write the `now` pr_ct_age read */
	PR_CT_EXPIRED = 2, /* idle for longer than its timeout: treat the entry as absent */
};

/* Whether last_seen may lag (every state but the handshake, see PR_CT_REFRESH_NS). */
PR_INLINE int pr_ct_coarse_refresh(__u8 proto, __u8 tcp_state)
{
	return proto != IPPROTO_TCP || tcp_state != PR_TCP_SYN_SENT;
}

/*
 * How a tracked entry stands for a packet now. Two clocks, because bpf_ktime_get_ns() is dear
 * (about 35 ns measured in this VM): bpf_ktime_get_coarse_ns() is CLOCK_MONOTONIC as of the last
 * timekeeping update (never ahead of it, behind by about a tick at most) and costs a few ns, so
 * most packets only ask it whether the refresh is due. Only then is the exact clock read: it sets
 * *now, the value to write, and decides the expiry. Entries keep exact timestamps, so user space
 * and the tests compare them with CLOCK_MONOTONIC as before. The compat build (PR_COMPAT: Linux
 * before 5.11 has no coarse clock) reads the exact clock once and asks it both questions.
 */
PR_INLINE int pr_ct_age(const struct pr_ct_value4 *v, __u8 proto, __u64 *now)
{
	__u64 last_seen = v->last_seen_ns;

#if PR_COMPAT
	*now = bpf_ktime_get_ns();
	if (pr_ct_coarse_refresh(proto, v->tcp_state) && *now < last_seen + PR_CT_REFRESH_NS)
		return PR_CT_FRESH;
#else
	if (pr_ct_coarse_refresh(proto, v->tcp_state) &&
	    bpf_ktime_get_coarse_ns() < last_seen + PR_CT_REFRESH_NS)
		return PR_CT_FRESH;
	*now = bpf_ktime_get_ns();
#endif
	/* last_seen may be a hair ahead of now when another CPU just touched it: alive */
	if (*now > last_seen && *now - last_seen > pr_ct_timeout_ns(proto, v))
		return PR_CT_EXPIRED;
	return PR_CT_TOUCH;
}

/* The TCP state after a segment with `flags`, from the client (1) or the backend (0). */
PR_INLINE void pr_ct_tcp_advance(__u8 *state, __u8 *fin_seen, __u8 flags, int from_client)
{
	if (flags & PR_TCP_RST) {
		*state = PR_TCP_CLOSED;
		return;
	}
	if (flags & PR_TCP_FIN)
		*fin_seen |= from_client ? PR_CT_FIN_FROM_CLIENT : PR_CT_FIN_FROM_BACKEND;
	if (!from_client && (flags & PR_TCP_ACK) && *state == PR_TCP_SYN_SENT)
		*state = PR_TCP_ESTABLISHED;
	if (*fin_seen == (PR_CT_FIN_FROM_CLIENT | PR_CT_FIN_FROM_BACKEND))
		*state = PR_TCP_CLOSED;
	else if (*fin_seen && *state != PR_TCP_CLOSED)
		*state = PR_TCP_CLOSING;
}

/* The initial TCP state of a flow whose first seen packet carries `flags`. */
PR_INLINE __u8 pr_ct_tcp_initial(__u8 proto, __u8 flags)
{
	if (proto != IPPROTO_TCP)
		return PR_TCP_NONE;
	if ((flags & (PR_TCP_SYN | PR_TCP_ACK)) == PR_TCP_SYN)
		return PR_TCP_SYN_SENT;
	/* picked up mid-flow, e.g. after the conntrack entry was evicted */
	return PR_TCP_ESTABLISHED;
}

/* The source of hairpin flows (PR_CT_F_HAIRPIN): pr_config's, or the default. */
PR_INLINE __be32 pr_hairpin_addr(void)
{
	__u32 zero = 0;
	struct pr_config *cfg = bpf_map_lookup_elem(&pr_config, &zero);

	return cfg && cfg->hairpin_addr ? cfg->hairpin_addr : bpf_htonl(PR_DEFAULT_HAIRPIN_ADDR_HBO);
}

/*
 * Reverse key of a forward entry: {backend, client, bport, cport}; a hairpin flow's replies go to the hairpin
 * address, an SNAT flow's to the SNAT source (the forward entry's peer).
 */
PR_INLINE void pr_ct_reverse_of_forward(struct pr_ct_key4 *rev, const struct pr_ct_key4 *fwd,
					const struct pr_ct_value4 *fwd_val)
{
	rev->src = fwd_val->nat_addr;
	rev->dst = (fwd_val->flags & PR_CT_F_HAIRPIN) ? pr_hairpin_addr() : fwd->src;
	rev->sport = fwd_val->nat_port;
	rev->dport = fwd->sport;
	if (fwd_val->flags & PR_CT_F_SNAT) {
		rev->dst = fwd_val->peer_addr;
		rev->dport = fwd_val->peer_port;
	}
	rev->proto = fwd->proto;
	rev->pad[0] = rev->pad[1] = rev->pad[2] = 0;
}

/*
 * Forward key of a reverse entry: {client, vip, cport, vport}; a hairpin flow's client is its backend, an SNAT
 * flow's the reverse entry's peer.
 */
PR_INLINE void pr_ct_forward_of_reverse(struct pr_ct_key4 *fwd, const struct pr_ct_key4 *rev,
					const struct pr_ct_value4 *rev_val)
{
	fwd->src = (rev_val->flags & PR_CT_F_HAIRPIN) ? rev->src : rev->dst;
	fwd->dst = rev_val->nat_addr;
	fwd->sport = rev->dport;
	if (rev_val->flags & PR_CT_F_SNAT) {
		fwd->src = rev_val->peer_addr;
		fwd->sport = rev_val->peer_port;
	}
	fwd->dport = rev_val->nat_port;
	fwd->proto = rev->proto;
	fwd->pad[0] = fwd->pad[1] = fwd->pad[2] = 0;
}

/* The reverse entry of a forward entry: nat = the VIP:port; an SNAT flow's peer = the client. */
PR_INLINE void pr_ct_reverse_value(struct pr_ct_value4 *rev, const struct pr_ct_key4 *fwd_key,
				   const struct pr_ct_value4 *fwd)
{
	*rev = *fwd;
	rev->type = PR_CT_REVERSE;
	rev->nat_addr = fwd_key->dst;
	rev->nat_port = fwd_key->dport;
	if (fwd->flags & PR_CT_F_SNAT) {
		rev->peer_addr = fwd_key->src;
		rev->peer_port = fwd_key->sport;
	}
}

/* What a flow to another node's backend adds to its forward entry (pr_map_abi.h, PR_CT_F_SNAT...). */
struct pr_ct_remote {
	__be32 peer_addr;   /* SNAT: the source the packets get */
	__be16 peer_port;
	__u16 pad;
	__be32 tunnel_addr; /* tunnel, DSR: the backend's node */
};

/*
 * Creates the entry pair of a new flow. The reverse entry goes in first so that a reply can
 * never arrive for a forward entry without its reverse. Overwrites stale entries (BPF_ANY).
 */
PR_INLINE int pr_ct_create(const struct pr_ct_key4 *fwd_key, __be32 backend, __be16 backend_port,
			   __u32 svc_id, __u8 tcp_state, __u8 flags, __u64 now, const struct pr_ct_remote *remote)
{
	struct pr_ct_value4 fwd = {
		.created_ns = now,
		.last_seen_ns = now,
		.type = PR_CT_FORWARD,
		.tcp_state = tcp_state,
		.flags = flags,
		.svc_id = svc_id,
		.nat_addr = backend,
		.nat_port = backend_port,
		.peer_addr = remote->peer_addr,
		.peer_port = remote->peer_port,
		.tunnel_addr = remote->tunnel_addr,
	};
	struct pr_ct_value4 rev;
	struct pr_ct_key4 rev_key;
	int ret;

	pr_ct_reverse_value(&rev, fwd_key, &fwd);
	pr_ct_reverse_of_forward(&rev_key, fwd_key, &fwd);

	ret = bpf_map_update_elem(&pr_ct4, &rev_key, &rev, BPF_ANY);
	if (ret < 0)
		return ret;
	return bpf_map_update_elem(&pr_ct4, fwd_key, &fwd, BPF_ANY);
}

/* Copies the flow state of the forward entry into its reverse entry (on state changes only). */
PR_INLINE void pr_ct_sync_reverse(const struct pr_ct_key4 *fwd_key, const struct pr_ct_value4 *fwd)
{
	struct pr_ct_key4 rev_key;
	struct pr_ct_value4 *rev;

	pr_ct_reverse_of_forward(&rev_key, fwd_key, fwd);
	rev = bpf_map_lookup_elem(&pr_ct4, &rev_key);
	if (rev && rev->type == PR_CT_REVERSE) {
		rev->tcp_state = fwd->tcp_state;
		rev->fin_seen = fwd->fin_seen;
	}
}

/*
 * A due refresh of a forward entry (PR_CT_TOUCH) refreshes its reverse entry as well, as a due
 * reply refreshes the forward entry (tc_nat.bpf.c, pr_reverse). Without it a flow whose backend
 * stays silent while the client keeps sending (one-way UDP: syslog, statsd, a stream answered
 * rarely) had its reverse entry expire under it, and the backend's first answer after more than
 * the UDP timeout left un-NATed, from the pod's address. Now the reverse entry's last_seen is
 * never older than the forward entry's, so it lives as long as the flow does. The lookup also
 * tells the LRU the reverse entry is in use, so it is not the first to be evicted under pressure.
 * Cost: one lookup and one write per flow per PR_CT_REFRESH_NS, never on a packet within it.
 *
 * A reverse entry that is missing (evicted) is written again from the forward entry: its key is
 * the flow's own NATed 5-tuple, which no other flow can use while this one is alive. One that
 * holds another flow's mapping (a nat_addr/nat_port that is not this forward entry's VIP:port,
 * e.g. two Services with a common backend and the same client port) is left alone.
 */
PR_INLINE void pr_ct_touch_reverse(const struct pr_ct_key4 *fwd_key, const struct pr_ct_value4 *fwd, __u64 now)
{
	struct pr_ct_key4 rev_key;
	struct pr_ct_value4 *rev;
	struct pr_ct_value4 fresh;

	pr_ct_reverse_of_forward(&rev_key, fwd_key, fwd);
	rev = bpf_map_lookup_elem(&pr_ct4, &rev_key);
	if (rev) {
		if (rev->type == PR_CT_REVERSE && rev->nat_addr == fwd_key->dst && rev->nat_port == fwd_key->dport)
			rev->last_seen_ns = now;
		return;
	}
	pr_ct_reverse_value(&fresh, fwd_key, fwd);
	fresh.last_seen_ns = now;
	bpf_map_update_elem(&pr_ct4, &rev_key, &fresh, BPF_NOEXIST);
}

#endif /* PR_CONNTRACK_H */
