/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * pr_icmp_err.h — ICMP errors about NATed flows. A backend (or a router on its way) answering
 * a DNATed packet with "port unreachable", "fragmentation needed" or "time exceeded" quotes
 * the packet as it saw it: client:cport -> backend:bport. The client only knows vip:vport,
 * so the quote and the error's source are rewritten back to the VIP before it leaves.
 *
 * Layout: [eth][outer IPv4][ICMP 8][inner IPv4 (20, no options)][inner L4 >= 8 bytes]
 * The quote must be linear first (pr_icmp_quote_linear).
 */
#ifndef PR_ICMP_ERR_H
#define PR_ICMP_ERR_H

#include "pr_common.h"
#include "pr_csum.h"
#include "pr_parse.h"

PR_INLINE int pr_icmp_is_error(__u8 type)
{
	return type == ICMP_DEST_UNREACH || type == ICMP_TIME_EXCEEDED;
}

/* Stores 2 bytes into the packet and folds the change into the ICMP checksum. */
PR_INLINE int pr_icmp_store2(struct __sk_buff *skb, __u32 icmp_csum_off, __u32 off, __u16 old, __u16 new)
{
	int ret = bpf_l4_csum_replace(skb, icmp_csum_off, old, new, sizeof(new));

	if (ret < 0)
		return ret;
	return bpf_skb_store_bytes(skb, off, &new, sizeof(new), BPF_F_RECOMPUTE_CSUM);
}

PR_INLINE int pr_icmp_store4(struct __sk_buff *skb, __u32 icmp_csum_off, __u32 off, __u32 old, __u32 new)
{
	int ret = bpf_l4_csum_replace(skb, icmp_csum_off, old, new, sizeof(new));

	if (ret < 0)
		return ret;
	return bpf_skb_store_bytes(skb, off, &new, sizeof(new), BPF_F_RECOMPUTE_CSUM);
}

/* The largest offset of the quoted L4 header: the outer IPv4 header is at most 60 bytes. */
#define PR_ICMP_IN_L4_OFF_MAX (sizeof(struct ethhdr) + 60 + sizeof(struct icmphdr) + sizeof(struct iphdr))

/*
 * Makes the quoted packet linear for pr_icmp_error_translate, which reads and rewrites it by direct
 * access: the inner IPv4 header and L4 header up to the TCP checksum, or what the error holds of
 * it. Pulled only when not linear yet (see pr_pull). Returns PR_PARSE_OK (also for a quote too
 * short to be ours, which the translation then passes) or PR_PARSE_PULL_FAILED.
 */
PR_INLINE int pr_icmp_quote_linear(struct __sk_buff *skb, const struct pr_pkt *p)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	__u32 in_l4_off = p->l4_off + sizeof(struct icmphdr) + sizeof(struct iphdr);
	__u32 want;

	if (in_l4_off > PR_ICMP_IN_L4_OFF_MAX)
		return PR_PARSE_OK;
	if (data + in_l4_off + sizeof(struct tcphdr) <= data_end)
		return PR_PARSE_OK;
	want = in_l4_off + sizeof(struct tcphdr);
	if (want > skb->len)
		want = skb->len;
	return bpf_skb_pull_data(skb, want) < 0 ? PR_PARSE_PULL_FAILED : PR_PARSE_OK;
}

/*
 * Returns 1 when the error was about a NATed flow and was translated, 0 when it is not ours
 * (the caller passes it), or a negative errno when a rewrite failed.
 */
PR_INLINE int pr_icmp_error_translate(struct __sk_buff *skb, const struct pr_pkt *p)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	__u32 icmp_off = p->l4_off;
	__u32 icmp_csum_off = icmp_off + offsetof(struct icmphdr, checksum);
	__u32 in_ip_off = icmp_off + sizeof(struct icmphdr);
	__u32 in_l4_off = in_ip_off + sizeof(struct iphdr);
	struct iphdr *in_ip;
	__u8 *in_l4;
	struct pr_ct_key4 rev_key = {};
	struct pr_ct_value4 *rev;
	__be32 vip, backend;
	__be16 vport, bport;
	__u16 in_ip_check, new_ip_check;
	__u32 l4_check_off = 0;
	__u16 l4_check = 0, new_l4_check = 0;
	int have_l4_check = 0;
	int ret;

	/* bounded offsets for the verifier: the outer header is at most 60 bytes */
	if (in_l4_off > PR_ICMP_IN_L4_OFF_MAX)
		return 0;
	/* a quote in bytes past the IPv4 total length is padding, not part of the message: nothing to translate */
	if (in_l4_off + PR_ICMP_QUOTE_L4 > p->l3_off + p->tot_len)
		return 0;
	in_ip = data + in_ip_off;
	if ((void *)(in_ip + 1) > data_end)
		return 0;
	if (in_ip->version != 4 || in_ip->ihl != 5)
		return 0;
	if (in_ip->protocol != IPPROTO_TCP && in_ip->protocol != IPPROTO_UDP)
		return 0;
	in_l4 = data + in_l4_off;
	if ((void *)(in_l4 + PR_ICMP_QUOTE_L4) > data_end)
		return 0;

	/* the quoted packet went client -> backend; its reply direction is our reverse key */
	rev_key.src = in_ip->daddr;
	rev_key.dst = in_ip->saddr;
	rev_key.sport = *(__be16 *)(in_l4 + 2);
	rev_key.dport = *(__be16 *)in_l4;
	rev_key.proto = in_ip->protocol;
	rev = bpf_map_lookup_elem(&pr_ct4, &rev_key);
	if (!rev || rev->type != PR_CT_REVERSE)
		return 0;

	backend = rev_key.src;
	bport = rev_key.sport;
	vip = rev->nat_addr;
	vport = rev->nat_port;
	in_ip_check = in_ip->check;

	if (in_ip->protocol == IPPROTO_UDP) {
		l4_check_off = in_l4_off + offsetof(struct udphdr, check);
		l4_check = *(__u16 *)(in_l4 + offsetof(struct udphdr, check));
		have_l4_check = l4_check != 0; /* zero: the sender used no checksum */
	} else if ((void *)(in_l4 + sizeof(struct tcphdr)) <= data_end) {
		/* only 8 bytes of TCP are guaranteed; fix the checksum when it was quoted */
		l4_check_off = in_l4_off + offsetof(struct tcphdr, check);
		l4_check = *(__u16 *)(in_l4 + offsetof(struct tcphdr, check));
		have_l4_check = 1;
	}

	/* inner destination address: inner IP checksum and inner L4 pseudo-header change */
	new_ip_check = pr_csum_replace4(in_ip_check, backend, vip);
	if (have_l4_check) {
		new_l4_check = pr_csum_replace4(l4_check, backend, vip);
		new_l4_check = pr_csum_replace2(new_l4_check, bport, vport);
		if (in_ip->protocol == IPPROTO_UDP && new_l4_check == 0)
			new_l4_check = 0xffff;
	}

	ret = pr_icmp_store4(skb, icmp_csum_off, in_ip_off + offsetof(struct iphdr, daddr), backend, vip);
	if (ret < 0)
		return ret;
	ret = pr_icmp_store2(skb, icmp_csum_off, in_ip_off + offsetof(struct iphdr, check), in_ip_check,
			     new_ip_check);
	if (ret < 0)
		return ret;
	ret = pr_icmp_store2(skb, icmp_csum_off, in_l4_off + 2, bport, vport);
	if (ret < 0)
		return ret;
	if (have_l4_check) {
		ret = pr_icmp_store2(skb, icmp_csum_off, l4_check_off, l4_check, new_l4_check);
		if (ret < 0)
			return ret;
	}

	/* the error's own source: the backend itself answered, so it must appear as the VIP */
	if (p->saddr == backend) {
		ret = bpf_l3_csum_replace(skb, p->l3_off + offsetof(struct iphdr, check), backend, vip,
					  sizeof(vip));
		if (ret < 0)
			return ret;
		ret = bpf_skb_store_bytes(skb, p->l3_off + offsetof(struct iphdr, saddr), &vip, sizeof(vip),
					  BPF_F_RECOMPUTE_CSUM);
		if (ret < 0)
			return ret;
	}
	return 1;
}

#endif /* PR_ICMP_ERR_H */
