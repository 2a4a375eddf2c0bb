/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * pr_mss.h — TCP MSS clamping for tunnelled flows. A SYN (or SYN-ACK) that enters or leaves the tunnel gets
 * its MSS option lowered to the tunnel MTU minus 40, so neither end ever sends a segment the encapsulation
 * cannot carry within the underlay's MTU. Non-TCP packets too big for the tunnel get ICMP
 * fragmentation-needed instead (pr_reject.h).
 */
#ifndef PR_MSS_H
#define PR_MSS_H

#include "pr_common.h"
#include "pr_parse.h"

#define PR_TCP_OPT_EOL 0
#define PR_TCP_OPT_NOP 1
#define PR_TCP_OPT_MSS 2
#define PR_TCP_OPTS_MAX 40

/*
 * Lowers the MSS option of a SYN to at most `max_mss`. The checksum follows with bpf_l4_csum_replace (not a
 * pseudo-header field): a full sum is adjusted, a CHECKSUM_PARTIAL one (which covers no payload) left alone,
 * and under CHECKSUM_COMPLETE the field's change cancels the option's in skb->csum. A SYN without an MSS
 * option is left as it is (the peer then assumes 536, which fits). Returns 1 when clamped, 0 when not, -1 on
 * failure.
 */
static __noinline int pr_clamp_mss(struct __sk_buff *skb, __u32 l4_off, __u16 max_mss)
{
	__u8 opt[4]; /* kind, length, and the MSS's two bytes: read one option at a time (SYNs only) */
	__u8 doff_byte;
	__u32 opts_len, i, off;

	if (l4_off > PR_L4_OFF_MAX)
		return -1;
	if (bpf_skb_load_bytes(skb, l4_off + 12, &doff_byte, 1) < 0)
		return -1;
	opts_len = (doff_byte >> 4) * 4;
	if (opts_len <= sizeof(struct tcphdr))
		return 0;
	opts_len -= sizeof(struct tcphdr);

	for (i = 0; i < PR_TCP_OPTS_MAX && i < opts_len;) {
		off = l4_off + sizeof(struct tcphdr) + i;
		if (bpf_skb_load_bytes(skb, off, opt, 1) < 0)
			return -1;
		if (opt[0] == PR_TCP_OPT_EOL)
			return 0;
		if (opt[0] == PR_TCP_OPT_NOP) {
			i++;
			continue;
		}
		if (i + 4 > opts_len || bpf_skb_load_bytes(skb, off, opt, 4) < 0)
			return 0;
		if (opt[1] < 2)
			return 0;
		if (opt[0] == PR_TCP_OPT_MSS && opt[1] == 4) {
			__be16 old = (__be16)(opt[2] | (opt[3] << 8));
			__be16 new = bpf_htons(max_mss);

			if (bpf_ntohs(old) <= max_mss)
				return 0;
			if (bpf_skb_store_bytes(skb, off + 2, &new, sizeof(new), 0) < 0 ||
			    bpf_l4_csum_replace(skb, l4_off + offsetof(struct tcphdr, check), old, new, sizeof(new)) < 0)
				return -1;
			pr_count(PR_CNT_TCP_MSS_CLAMPED);
			return 1;
		}
		i += opt[1];
	}
	return 0;
}

/* Clamps when the packet is a SYN (with or without ACK); `mtu` is the tunnel's inner MTU. */
PR_INLINE int pr_clamp_syn(struct __sk_buff *skb, const struct pr_pkt *p, __u16 mtu)
{
	if (p->proto != IPPROTO_TCP || !(p->tcp_flags & PR_TCP_SYN))
		return 0;
	return pr_clamp_mss(skb, p->l4_off, mtu - sizeof(struct iphdr) - sizeof(struct tcphdr));
}

#endif /* PR_MSS_H */
