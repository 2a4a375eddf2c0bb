/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * pr_parse.h — packet parsing: Ethernet + IPv4 + the L4 ports and TCP flags the NAT needs.
 * The result is a struct pr_pkt of offsets and header fields copied out of the packet, so that
 * later rewrites (which invalidate packet pointers) can work from saved values. Headers that are
 * not in the skb's linear part are pulled into it first (pr_pull), so that every later step may
 * read and write them by direct packet access.
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

/* The SCTP common header (RFC 9260 3.1); linux/sctp.h is not usable for the BPF target. */
struct pr_sctphdr {
	__be16 source;
	__be16 dest;
	__be32 vtag;
	__le32 checksum;
};

struct pr_pkt {
	__u32 l3_off;   /* offset of the IPv4 header (after Ethernet) */
	__u32 l4_off;   /* offset of the L4 header */
	__u32 ihl_len;  /* IPv4 header length in bytes */
	__u32 tot_len;  /* HBO: IPv4 total length */
	__be32 saddr;   /* NBO */
	__be32 daddr;   /* NBO */
	__be16 sport;   /* NBO: TCP, UDP, SCTP; other protocols: zero */
	__be16 dport;   /* NBO: TCP, UDP, SCTP; other protocols: zero */
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
	PR_PARSE_PULL_FAILED, /* the headers exist but could not be made linear */
};

/*
 * Non-linear packets. Direct packet access reaches only the skb's linear part (data .. data_end),
 * and a packet from a NIC's page-based receive path, GRO or a packet socket may hold its IP or L4
 * header partly or wholly in the fragments. When a header the parser needs is not in the linear
 * part, pr_pull asks the kernel to move the first `need` bytes there (bpf_skb_pull_data; it also
 * unclones the head, which the rewrites need anyway); the caller then re-derives every packet
 * pointer, as the helper invalidates them. Only then: a packet whose headers are already linear
 * (all of a veth's from local sockets) pays nothing but the bounds check it made before.
 * `need` beyond the packet's length is a truncated packet: malformed, as before.
 */
PR_INLINE int pr_pull(struct __sk_buff *skb, __u32 need)
{
	if (need > skb->len)
		return PR_PARSE_MALFORMED;
	if (bpf_skb_pull_data(skb, need) < 0)
		return PR_PARSE_PULL_FAILED;
	return PR_PARSE_OK;
}

/* The L4 header bytes the programs read: TCP's fixed header, UDP's, ICMP's type..rest-of-header, SCTP's common header. */
PR_INLINE __u32 pr_l4_header_len(__u8 proto)
{
	switch (proto) {
	case IPPROTO_TCP:
		return sizeof(struct tcphdr);
	case IPPROTO_UDP:
		return sizeof(struct udphdr);
	case IPPROTO_ICMP:
		return sizeof(struct icmphdr);
	case IPPROTO_SCTP:
		return sizeof(struct pr_sctphdr);
	default:
		return 0;
	}
}

PR_INLINE int pr_parse(struct __sk_buff *skb, struct pr_pkt *p)
{
	void *data = pr_skb_data(skb);
	void *data_end = pr_skb_data_end(skb);
	struct ethhdr *eth = data;
	struct iphdr *ip;
	__u32 ihl_len, l4_off, l4_end;
	int pulled;

	if ((void *)(eth + 1) > data_end) {
		pulled = pr_pull(skb, sizeof(*eth));
		if (pulled != PR_PARSE_OK)
			return pulled == PR_PARSE_MALFORMED ? PR_PARSE_NOT_IPV4 : pulled;
		data = pr_skb_data(skb);
		data_end = pr_skb_data_end(skb);
		eth = data;
		if ((void *)(eth + 1) > data_end)
			return PR_PARSE_NOT_IPV4;
	}
	if (eth->h_proto != bpf_htons(ETH_P_IP))
		return PR_PARSE_NOT_IPV4;

	ip = (void *)(eth + 1);
	if ((void *)(ip + 1) > data_end) {
		pulled = pr_pull(skb, sizeof(*eth) + sizeof(*ip));
		if (pulled != PR_PARSE_OK)
			return pulled;
		data = pr_skb_data(skb);
		data_end = pr_skb_data_end(skb);
		ip = data + sizeof(*eth);
		if ((void *)(ip + 1) > data_end)
			return PR_PARSE_MALFORMED;
	}
	if (ip->version != 4 || ip->ihl < 5)
		return PR_PARSE_MALFORMED;
	ihl_len = ip->ihl * 4;
	/* a local, not p->l4_off, for the pointer arithmetic: older verifiers forget the bounds of a
	 * 32-bit value spilled to the stack */
	l4_off = sizeof(*eth) + ihl_len;

	p->l3_off = sizeof(*eth);
	p->l4_off = l4_off;
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

	/* IP options and the L4 header must be linear too; p holds everything read so far */
	l4_end = l4_off + pr_l4_header_len(p->proto);
	if (data + l4_end > data_end) {
		pulled = pr_pull(skb, l4_end);
		if (pulled != PR_PARSE_OK)
			return pulled;
		data = pr_skb_data(skb);
		data_end = pr_skb_data_end(skb);
	}

	switch (p->proto) {
	case IPPROTO_TCP: {
		struct tcphdr *tcp = data + l4_off;

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
		struct udphdr *udp = data + l4_off;

		if ((void *)(udp + 1) > data_end)
			return PR_PARSE_MALFORMED;
		p->sport = udp->source;
		p->dport = udp->dest;
		break;
	}
	case IPPROTO_SCTP: {
		/* ports only: NetworkPolicy matches SCTP ports; the NAT leaves SCTP alone */
		struct pr_sctphdr *sctp = data + l4_off;

		if ((void *)(sctp + 1) > data_end)
			return PR_PARSE_MALFORMED;
		p->sport = sctp->source;
		p->dport = sctp->dest;
		break;
	}
	case IPPROTO_ICMP: {
		struct icmphdr *icmp = data + l4_off;

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
