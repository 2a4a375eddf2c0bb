/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * pr_csum.h — Internet checksums (RFC 1071 / RFC 1624).
 *  - Offload-safe rewrites of a field covered by the IPv4 and L4 checksums of the packet
 *    itself go through the kernel helpers (bpf_l3/l4_csum_replace), which also handle
 *    CHECKSUM_PARTIAL skbs from veths and UDP's "no checksum" zero.
 *  - Checksums inside packet payload (the packet embedded in an ICMP error) and checksums
 *    of packets built from scratch (reject replies) are computed here.
 * All 16-bit values are raw as stored in the packet: one's complement sums are byte-order
 * independent as long as every operand is read the same way.
 */
#ifndef PR_CSUM_H
#define PR_CSUM_H

#include "pr_common.h"

PR_INLINE __u16 pr_csum_fold(__u64 sum)
{
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)~sum;
}

/* RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m') for one 16-bit word. */
PR_INLINE __u16 pr_csum_replace2(__u16 check, __u16 old, __u16 new)
{
	__u64 sum = (__u16)~check;

	sum += (__u16)~old;
	sum += new;
	return pr_csum_fold(sum);
}

PR_INLINE __u16 pr_csum_replace4(__u16 check, __u32 old, __u32 new)
{
	check = pr_csum_replace2(check, (__u16)(old & 0xffff), (__u16)(new & 0xffff));
	return pr_csum_replace2(check, (__u16)(old >> 16), (__u16)(new >> 16));
}

/*
 * Rewrites an IPv4 address in the packet (at addr_off) and the port of its L4 header (at
 * port_off), keeping the IPv4 header checksum and the TCP/UDP checksum correct.
 * l4_csum_off: offset of the TCP or UDP checksum field. Returns 0 or a negative errno.
 */
PR_INLINE int pr_rewrite_addr_port(struct __sk_buff *skb, __u32 csum_ip_off, __u32 l4_csum_off,
				   __u8 proto, __u32 addr_off, __be32 old_addr, __be32 new_addr,
				   __u32 port_off, __be16 old_port, __be16 new_port)
{
	/* UDP: a zero checksum means "none" and must stay zero (BPF_F_MARK_MANGLED_0). */
	__u64 l4_flags = proto == IPPROTO_UDP ? BPF_F_MARK_MANGLED_0 : 0;
	int ret;

	if (old_addr != new_addr) {
		ret = bpf_l4_csum_replace(skb, l4_csum_off, old_addr, new_addr,
					  l4_flags | BPF_F_PSEUDO_HDR | sizeof(new_addr));
		if (ret < 0)
			return ret;
		ret = bpf_l3_csum_replace(skb, csum_ip_off, old_addr, new_addr, sizeof(new_addr));
		if (ret < 0)
			return ret;
		ret = bpf_skb_store_bytes(skb, addr_off, &new_addr, sizeof(new_addr), 0);
		if (ret < 0)
			return ret;
	}
	if (old_port != new_port) {
		ret = bpf_l4_csum_replace(skb, l4_csum_off, old_port, new_port,
					  l4_flags | sizeof(new_port));
		if (ret < 0)
			return ret;
		ret = bpf_skb_store_bytes(skb, port_off, &new_port, sizeof(new_port), 0);
		if (ret < 0)
			return ret;
	}
	return 0;
}

/* Offset of the TCP or UDP checksum field from the start of the L4 header. */
PR_INLINE __u32 pr_l4_csum_field(__u8 proto)
{
	return proto == IPPROTO_TCP ? offsetof(struct tcphdr, check) : offsetof(struct udphdr, check);
}

#endif /* PR_CSUM_H */
