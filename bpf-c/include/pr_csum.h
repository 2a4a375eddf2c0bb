/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * pr_csum.h — Internet checksums (RFC 1071 / RFC 1624).
 *  - NAT rewrites of an address and port (pr_rewrite_addr_port): direct packet writes with
 *    incremental checksums that follow the skb's checksum state (CHECKSUM_PARTIAL skbs from
 *    veths, UDP's "no checksum" zero); the kernel helpers only for CHECKSUM_COMPLETE, and for
 *    every L4 checksum in the compat build (PR_COMPAT: no kfunc to read the state with).
 *  - Checksums inside packet payload (the packet embedded in an ICMP error) and checksums
 *    of packets built from scratch (reject replies) are computed here.
 * All 16-bit values are raw as stored in the packet: one's complement sums are byte-order
 * independent as long as every operand is read the same way.
 */
#ifndef PR_CSUM_H
#define PR_CSUM_H

#include <bpf/bpf_core_read.h>
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

/* Offset of the TCP or UDP checksum field from the start of the L4 header. */
PR_INLINE __u32 pr_l4_csum_field(__u8 proto)
{
	return proto == IPPROTO_TCP ? offsetof(struct tcphdr, check) : offsetof(struct udphdr, check);
}

/* The largest L4 offset: Ethernet and an IPv4 header with 40 bytes of options. */
#define PR_L4_OFF_MAX (sizeof(struct ethhdr) + 60)

#if !PR_COMPAT
/* skb->ip_summed values (include/linux/skbuff.h; unchanged since they exist). */
#define PR_CHECKSUM_COMPLETE 2
#define PR_CHECKSUM_PARTIAL 3

/* The one field of the kernel's struct sk_buff we read; CO-RE finds it in the running kernel. */
struct sk_buff___pr {
	__u8 ip_summed : 2;
} __attribute__((preserve_access_index));

extern void *bpf_cast_to_kern_ctx(void *obj) __ksym;

/*
 * The skb's checksum state, which struct __sk_buff does not expose: bpf_cast_to_kern_ctx (a kfunc
 * the verifier turns into a register move; Linux 6.2+) gives the kernel's sk_buff, and a CO-RE
 * bitfield read (libbpf relocates it against the kernel's BTF at load) reads ip_summed. One load.
 * Not in the compat build (PR_COMPAT), which leaves the L4 checksum to the helper instead.
 */
PR_INLINE int pr_skb_ip_summed(struct __sk_buff *skb)
{
	struct sk_buff___pr *kskb = bpf_cast_to_kern_ctx(skb);

	return BPF_CORE_READ_BITFIELD(kskb, ip_summed);
}
#endif /* !PR_COMPAT */

/*
 * The TCP/UDP checksum field after the address and port changed, for every checksum state but
 * CHECKSUM_COMPLETE, computed as the kernel's inet_proto_csum_replace4/2 would:
 *  - CHECKSUM_PARTIAL (a veth skb from a local socket, GSO): the field holds the uncomplemented
 *    pseudo-header sum that the device or skb_checksum_help completes later over the segment.
 *    The address is in the pseudo-header: it goes into the sum. The port is in the data summed
 *    later: it must not.
 *  - CHECKSUM_NONE / CHECKSUM_UNNECESSARY: the field is the full checksum; both change it.
 * UDP: 0 means "no checksum" and stays 0; a computed 0 is sent as 0xffff (RFC 768), as the
 * helpers' BPF_F_MARK_MANGLED_0 does.
 */
PR_INLINE __u16 pr_l4_csum_after(__u16 check, __u8 proto, int partial, __be32 old_addr, __be32 new_addr,
				 __be16 old_port, __be16 new_port)
{
	if (proto == IPPROTO_UDP && check == 0)
		return 0;
	if (old_addr != new_addr)
		check = partial ? (__u16)~pr_csum_replace4((__u16)~check, old_addr, new_addr)
				: pr_csum_replace4(check, old_addr, new_addr);
	if (!partial && old_port != new_port)
		check = pr_csum_replace2(check, old_port, new_port);
	if (proto == IPPROTO_UDP && check == 0)
		check = 0xffff;
	return check;
}

/*
 * CHECKSUM_COMPLETE: skb->csum covers the packet and must follow the change of the L4 checksum
 * field, which only the kernel can write: the helpers. `csum_off` is the field's packet offset.
 */
PR_INLINE int pr_l4_csum_by_helper(struct __sk_buff *skb, __u32 csum_off, __u8 proto, __be32 old_addr,
				   __be32 new_addr, __be16 old_port, __be16 new_port)
{
	/* UDP: a zero checksum means "none" and must stay zero (BPF_F_MARK_MANGLED_0). */
	__u64 l4_flags = proto == IPPROTO_UDP ? BPF_F_MARK_MANGLED_0 : 0;
	int ret;

	if (old_addr != new_addr) {
		ret = bpf_l4_csum_replace(skb, csum_off, old_addr, new_addr,
					  l4_flags | BPF_F_PSEUDO_HDR | sizeof(new_addr));
		if (ret < 0)
			return ret;
	}
	if (old_port != new_port) {
		ret = bpf_l4_csum_replace(skb, csum_off, old_port, new_port, l4_flags | sizeof(new_port));
		if (ret < 0)
			return ret;
	}
	return 0;
}

/*
 * Rewrites one end of the flow in the packet, its IPv4 address and its TCP/UDP port (the
 * source with `source` = 1, else the destination), keeping the IPv4 header checksum and the
 * TCP/UDP checksum correct. Returns 0 or a negative errno.
 *
 * Everything is written by direct packet access, without a helper call: the headers are in the
 * linear part (checked against data_end here, as pr_parse did), and a TC program that writes
 * packets gets the verifier's unclone prologue, so the head is the program's to write. The IPv4
 * header checksum is the full one in every skb state; the L4 one depends on the state
 * (pr_l4_csum_after), read from the skb; for CHECKSUM_COMPLETE (from a NIC, not from a veth)
 * the L4 checksum goes through the helpers, which also keep skb->csum right, and so it does in
 * every state in the compat build (PR_COMPAT), which cannot read the state. The IPv4 header
 * change (address and checksum together) leaves the header's sum as it was, so skb->csum needs
 * nothing for it, as with the bpf_l3_csum_replace + bpf_skb_store_bytes this replaced.
 */
PR_INLINE int pr_rewrite_addr_port(struct __sk_buff *skb, __u32 l4_off, __u8 proto, int source,
				   __be32 old_addr, __be32 new_addr, __be16 old_port, __be16 new_port)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct iphdr *ip = data + sizeof(struct ethhdr);
#if !PR_COMPAT
	int summed = pr_skb_ip_summed(skb);
#endif
	__sum16 *check;
	__be16 *port;
	void *l4;

	if (l4_off > PR_L4_OFF_MAX || (void *)(ip + 1) > data_end)
		return -EFAULT;
	l4 = data + l4_off;
	/* one branch per protocol, so that the verifier sees each pointer next to its bounds check */
	if (proto == IPPROTO_TCP) {
		struct tcphdr *tcp = l4;

		if ((void *)(tcp + 1) > data_end)
			return -EFAULT;
		check = &tcp->check;
		port = source ? &tcp->source : &tcp->dest;
	} else {
		struct udphdr *udp = l4;

		if ((void *)(udp + 1) > data_end)
			return -EFAULT;
		check = &udp->check;
		port = source ? &udp->source : &udp->dest;
	}

	if (old_addr != new_addr) {
		ip->check = pr_csum_replace4(ip->check, old_addr, new_addr);
		if (source)
			ip->saddr = new_addr;
		else
			ip->daddr = new_addr;
	}
	if (old_port != new_port)
		*port = new_port;

#if PR_COMPAT
	/* No ip_summed here (the compat build has no kfunc): the helper reads it and does what the
	 * state needs, skb->csum included. It only applies the (old, new) difference, so the bytes
	 * written above do not matter to it. */
	(void)check;
	return pr_l4_csum_by_helper(skb, l4_off + pr_l4_csum_field(proto), proto, old_addr, new_addr, old_port,
				    new_port);
#else
	if (summed == PR_CHECKSUM_COMPLETE)
		/* the helper only applies the (old, new) difference: the bytes may already be new */
		return pr_l4_csum_by_helper(skb, l4_off + pr_l4_csum_field(proto), proto, old_addr, new_addr,
					    old_port, new_port);
	*check = pr_l4_csum_after(*check, proto, summed == PR_CHECKSUM_PARTIAL, old_addr, new_addr, old_port,
				  new_port);
	return 0;
#endif
}

#endif /* PR_CSUM_H */
