/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * pr_parse.h — packet parsing: Ethernet + IPv4 + the L4 ports and TCP flags the NAT needs.
 * The result is a struct pr_pkt of offsets and header fields copied out of the packet, so that
 * later rewrites (which invalidate packet pointers) can work from saved values.
 */
#ifndef PR_PARSE_H
#define PR_PARSE_H

#include "pr_common.h"

/* TCP flag bits as in byte 13 of the TCP header. */
#define PR_TCP_FIN 0x01
#define PR_TCP_SYN 0x02
#define PR_TCP_RST 0x04
#define PR_TCP_PSH 0x08
#define PR_TCP_ACK 0x10

struct pr_pkt {
	__u32 l3_off;   /* offset of the IPv4 header (after Ethernet) */
	__u32 l4_off;   /* offset of the L4 header */
	__u32 ihl_len;  /* IPv4 header length in bytes */
	__u32 tot_len;  /* HBO: IPv4 total length */
	__be32 saddr;   /* NBO */
	__be32 daddr;   /* NBO */
	__be16 sport;   /* NBO; ICMP: zero */
	__be16 dport;   /* NBO; ICMP: zero */
	__u8 proto;     /* IPPROTO_* */
	__u8 tcp_flags; /* PR_TCP_* */
	__u8 icmp_type;
	__u8 pad;
};

enum pr_parse_result {
	PR_PARSE_OK = 0,
	PR_PARSE_NOT_IPV4,
	PR_PARSE_FRAGMENT,
	PR_PARSE_MALFORMED,
};

PR_INLINE int pr_parse(struct __sk_buff *skb, struct pr_pkt *p)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip;
	__u32 ihl_len;

	if ((void *)(eth + 1) > data_end)
		return PR_PARSE_NOT_IPV4;
	if (eth->h_proto != bpf_htons(ETH_P_IP))
		return PR_PARSE_NOT_IPV4;

	ip = (void *)(eth + 1);
	if ((void *)(ip + 1) > data_end)
		return PR_PARSE_MALFORMED;
	if (ip->version != 4 || ip->ihl < 5)
		return PR_PARSE_MALFORMED;
	ihl_len = ip->ihl * 4;

	p->l3_off = sizeof(*eth);
	p->l4_off = sizeof(*eth) + ihl_len;
	p->ihl_len = ihl_len;
	p->tot_len = bpf_ntohs(ip->tot_len);
	p->saddr = ip->saddr;
	p->daddr = ip->daddr;
	p->proto = ip->protocol;
	p->sport = 0;
	p->dport = 0;
	p->tcp_flags = 0;
	p->icmp_type = 0;
	p->pad = 0;

	if (p->tot_len < ihl_len)
		return PR_PARSE_MALFORMED;
	if (bpf_ntohs(ip->frag_off) & PR_IP_OFFSET_MASK)
		return PR_PARSE_FRAGMENT;

	switch (ip->protocol) {
	case IPPROTO_TCP: {
		struct tcphdr *tcp = data + sizeof(*eth) + ihl_len;

		if ((void *)(tcp + 1) > data_end)
			return PR_PARSE_MALFORMED;
		if (tcp->doff < 5)
			return PR_PARSE_MALFORMED;
		p->sport = tcp->source;
		p->dport = tcp->dest;
		p->tcp_flags = ((__u8 *)tcp)[13];
		break;
	}
	case IPPROTO_UDP: {
		struct udphdr *udp = data + sizeof(*eth) + ihl_len;

		if ((void *)(udp + 1) > data_end)
			return PR_PARSE_MALFORMED;
		p->sport = udp->source;
		p->dport = udp->dest;
		break;
	}
	case IPPROTO_ICMP: {
		struct icmphdr *icmp = data + sizeof(*eth) + ihl_len;

		if ((void *)(icmp + 1) > data_end)
			return PR_PARSE_MALFORMED;
		p->icmp_type = icmp->type;
		break;
	}
	default:
		break;
	}
	return PR_PARSE_OK;
}

#endif /* PR_PARSE_H */
