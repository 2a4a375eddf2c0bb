/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * pr_reject.h — answers for traffic to a Service without backends, built in place from the
 * offending packet and sent back out of the interface it arrived on:
 *   TCP -> a RST from VIP:port;  UDP -> ICMP port unreachable from the VIP.
 * `reason` is the counter of a successful reject. The caller returns the verdict of pr_reject_tcp / pr_reject_udp (TC_ACT_REDIRECT on
 * success, TC_ACT_SHOT with a counted reason when the answer cannot be built).
 */
#ifndef PR_REJECT_H
#define PR_REJECT_H

#include "pr_common.h"
#include "pr_csum.h"
#include "pr_parse.h"

#define PR_REJECT_TTL 64

struct pr_pseudo_hdr4 {
	__be32 saddr;
	__be32 daddr;
	__u8 zero;
	__u8 proto;
	__be16 len;
};

/* Checksum of `len` bytes (a multiple of 4, at most 64 here) at `ptr`, plus `seed`. */
PR_INLINE __u16 pr_csum_bytes(void *ptr, __u32 len, __s64 seed)
{
	__s64 sum = bpf_csum_diff(NULL, 0, ptr, len, (__wsum)seed);

	return sum < 0 ? 0 : pr_csum_fold((__u64)sum);
}

PR_INLINE void pr_fill_ipv4(struct iphdr *ip, __u16 tot_len, __u8 proto, __be32 src, __be32 dst)
{
	ip->version = 4;
	ip->ihl = 5;
	ip->tos = 0;
	ip->tot_len = bpf_htons(tot_len);
	ip->id = 0;
	ip->frag_off = 0;
	ip->ttl = PR_REJECT_TTL;
	ip->protocol = proto;
	ip->check = 0;
	ip->saddr = src;
	ip->daddr = dst;
	ip->check = pr_csum_bytes(ip, sizeof(*ip), 0);
}

PR_INLINE void pr_swap_macs(struct ethhdr *eth)
{
	__u8 tmp[ETH_ALEN];

	__builtin_memcpy(tmp, eth->h_source, ETH_ALEN);
	__builtin_memcpy(eth->h_source, eth->h_dest, ETH_ALEN);
	__builtin_memcpy(eth->h_dest, tmp, ETH_ALEN);
}

PR_INLINE int pr_reject_tcp(struct __sk_buff *skb, const struct pr_pkt *p, __u32 reason)
{
	const __u32 out_len = sizeof(struct ethhdr) + sizeof(struct iphdr) + sizeof(struct tcphdr);
	void *data, *data_end;
	struct ethhdr *eth;
	struct iphdr *ip;
	struct tcphdr *tcp;
	struct pr_pseudo_hdr4 ph;
	__be32 in_seq, in_ack;
	__u32 payload, seg_len;
	__u8 in_flags;

	if (p->ihl_len != sizeof(struct iphdr)) {
		pr_count(PR_CNT_DROP_UNSUPPORTED);
		return TC_ACT_SHOT;
	}

	data = (void *)(long)skb->data;
	data_end = (void *)(long)skb->data_end;
	if (data + out_len > data_end)
		goto fail;
	tcp = data + sizeof(struct ethhdr) + sizeof(struct iphdr);
	in_seq = tcp->seq;
	in_ack = tcp->ack_seq;
	in_flags = p->tcp_flags;
	seg_len = tcp->doff * 4;
	payload = p->tot_len > sizeof(struct iphdr) + seg_len ? p->tot_len - sizeof(struct iphdr) - seg_len : 0;

	if (bpf_skb_change_tail(skb, out_len, 0) < 0)
		goto fail;
	data = (void *)(long)skb->data;
	data_end = (void *)(long)skb->data_end;
	if (data + out_len > data_end)
		goto fail;

	eth = data;
	ip = (void *)(eth + 1);
	tcp = (void *)(ip + 1);
	pr_swap_macs(eth);
	pr_fill_ipv4(ip, sizeof(*ip) + sizeof(*tcp), IPPROTO_TCP, p->daddr, p->saddr);

	tcp->source = p->dport;
	tcp->dest = p->sport;
	/* RFC 793, "Reset Generation": answer the segment's ACK, or acknowledge what it occupied. */
	if (in_flags & PR_TCP_ACK) {
		tcp->seq = in_ack;
		tcp->ack_seq = 0;
		((__u8 *)tcp)[13] = PR_TCP_RST;
	} else {
		__u32 occupied = payload + !!(in_flags & PR_TCP_SYN) + !!(in_flags & PR_TCP_FIN);

		tcp->seq = 0;
		tcp->ack_seq = bpf_htonl(bpf_ntohl(in_seq) + occupied);
		((__u8 *)tcp)[13] = PR_TCP_RST | PR_TCP_ACK;
	}
	((__u8 *)tcp)[12] = 5 << 4; /* doff 5, reserved bits zero */
	tcp->window = 0;
	tcp->check = 0;
	tcp->urg_ptr = 0;

	ph.saddr = ip->saddr;
	ph.daddr = ip->daddr;
	ph.zero = 0;
	ph.proto = IPPROTO_TCP;
	ph.len = bpf_htons(sizeof(*tcp));
	{
		__s64 seed = bpf_csum_diff(NULL, 0, (__be32 *)&ph, sizeof(ph), 0);

		if (seed < 0)
			goto fail;
		tcp->check = pr_csum_bytes(tcp, sizeof(*tcp), seed);
	}

	pr_count(reason);
	return bpf_redirect(skb->ifindex, 0);
fail:
	pr_count(PR_CNT_DROP_REJECT_FAILED);
	return TC_ACT_SHOT;
}


/*
 * An ICMP destination-unreachable with `code` (and `rest`: the header's last four bytes, NBO; the next-hop
 * MTU of fragmentation-needed) about the packet, from the address it was sent to, back out of the
 * interface it came in on. Quotes the IPv4 header and the first 8 bytes after it.
 */
PR_INLINE int pr_icmp_unreach(struct __sk_buff *skb, const struct pr_pkt *p, __u8 code, __be32 rest, __u32 reason)
{
	const __u32 quoted = sizeof(struct iphdr) + PR_ICMP_QUOTE_L4;
	const __u32 added = sizeof(struct iphdr) + sizeof(struct icmphdr);
	const __u32 out_len = sizeof(struct ethhdr) + added + quoted;
	struct ethhdr saved_eth;
	void *data, *data_end;
	struct ethhdr *eth;
	struct iphdr *ip;
	struct icmphdr *icmp;

	if (p->ihl_len != sizeof(struct iphdr)) {
		pr_count(PR_CNT_DROP_UNSUPPORTED);
		return TC_ACT_SHOT;
	}

	data = (void *)(long)skb->data;
	data_end = (void *)(long)skb->data_end;
	if (data + sizeof(struct ethhdr) > data_end)
		goto fail;
	__builtin_memcpy(&saved_eth, data, sizeof(saved_eth));

	/* keep Ethernet + the quoted part, then make room for the new IPv4 + ICMP headers */
	if (bpf_skb_change_tail(skb, sizeof(struct ethhdr) + quoted, 0) < 0)
		goto fail;
	if (bpf_skb_change_head(skb, added, 0) < 0)
		goto fail;

	data = (void *)(long)skb->data;
	data_end = (void *)(long)skb->data_end;
	if (data + out_len > data_end)
		goto fail;

	eth = data;
	ip = (void *)(eth + 1);
	icmp = (void *)(ip + 1);
	__builtin_memcpy(eth->h_dest, saved_eth.h_source, ETH_ALEN);
	__builtin_memcpy(eth->h_source, saved_eth.h_dest, ETH_ALEN);
	eth->h_proto = bpf_htons(ETH_P_IP);
	pr_fill_ipv4(ip, added + quoted, IPPROTO_ICMP, p->daddr, p->saddr);

	icmp->type = ICMP_DEST_UNREACH;
	icmp->code = code;
	icmp->checksum = 0;
	icmp->un.gateway = rest;
	icmp->checksum = pr_csum_bytes(icmp, sizeof(*icmp) + quoted, 0);

	pr_count(reason);
	return bpf_redirect(skb->ifindex, 0);
fail:
	pr_count(PR_CNT_DROP_REJECT_FAILED);
	return TC_ACT_SHOT;
}

PR_INLINE int pr_reject_udp(struct __sk_buff *skb, const struct pr_pkt *p, __u32 reason)
{
	return pr_icmp_unreach(skb, p, ICMP_PORT_UNREACH, 0, reason);
}

#endif /* PR_REJECT_H */
