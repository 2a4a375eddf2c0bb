/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * pr_route.h — where packets go once translated: the routing module's map (pr_routes4: which node owns an
 * address) and sending a packet out of the interface the kernel's FIB picks, for the packets the kernel's
 * own forwarding would drop (a source that is one of this node's addresses: NodePort replies, SNATed and
 * encapsulated packets, all of them seen at an ingress hook).
 */
#ifndef PR_ROUTE_H
#define PR_ROUTE_H

#include "pr_common.h"

#ifndef AF_INET
#define AF_INET 2
#endif

/* The route of an address (longest prefix), or NULL: not in any Node's pod CIDR, treated as local. */
PR_INLINE struct pr_route_value *pr_route_of4(__be32 addr)
{
	struct pr_route_key4 key = { .prefixlen = 32, .addr = addr };

	return bpf_map_lookup_elem(&pr_routes4, &key);
}

/*
 * Sends the packet (its IPv4 header after Ethernet) out of the interface the FIB picks for its destination,
 * the neighbour subsystem filling in the Ethernet header. No tot_len is given to the lookup: the kernel then
 * checks the skb against the egress device itself, which is right for GSO packets too. Returns -1 when the
 * FIB has no forwarding answer (the caller decides: the kernel, or a drop).
 */
PR_INLINE int pr_route_out(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct iphdr *ip = data + sizeof(struct ethhdr);
	struct bpf_fib_lookup fib = {};
	int rc;

	if ((void *)(ip + 1) > data_end)
		return -1;
	fib.family = AF_INET;
	fib.tos = ip->tos;
	fib.l4_protocol = ip->protocol;
	fib.ipv4_src = ip->saddr;
	fib.ipv4_dst = ip->daddr;
	fib.ifindex = skb->ifindex;
	rc = bpf_fib_lookup(skb, &fib, sizeof(fib), 0);
	if (rc == BPF_FIB_LKUP_RET_SUCCESS || rc == BPF_FIB_LKUP_RET_NO_NEIGH)
		return bpf_redirect_neigh(fib.ifindex, NULL, 0, 0);
	return -1;
}

#endif /* PR_ROUTE_H */
