/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * pr_nat.h — service load balancing: the frontend lookup, backend choice (random or by
 * ClientIP affinity) and the DNAT / reverse-NAT rewrites of a parsed packet.
 */
#ifndef PR_NAT_H
#define PR_NAT_H

#include "pr_common.h"
#include "pr_csum.h"
#include "pr_parse.h"

#define PR_DEFAULT_AFFINITY_TIMEOUT_S 10800 /* Kubernetes' default for ClientIP affinity */

struct pr_backend_choice {
	__u32 ordinal;
	__be32 addr;  /* NBO */
	__be16 port;  /* NBO */
	__u8 from_affinity;
	__u8 pad;
};

enum pr_choose_result {
	PR_CHOSEN = 0,
	PR_NO_BACKENDS,      /* the frontend has zero backends */
	PR_BACKEND_MISSING,  /* the backend map lacks the chosen ordinal */
};

PR_INLINE struct pr_nat_be_value4 *pr_backend_at(__u32 svc_id, __u32 ordinal)
{
	struct pr_nat_be_key key = { .svc_id = svc_id, .ordinal = ordinal };

	return bpf_map_lookup_elem(&pr_nat_be4, &key);
}

/*
 * The set a choice is made from: ordinals [base, base + count) of the frontend's id, the cluster set
 * (base 0, backend_count) or the node-local set (PR_LOCAL_ORDINAL_BASE, local_count).
 */
struct pr_backend_set {
	__u32 base;
	__u32 count;
};

/* The affinity backend of this client, when still valid (fresh, and the backend set did not move). */
PR_INLINE int pr_affinity_lookup(const struct pr_aff_key4 *key, const struct pr_nat_fe_value *fe,
				 const struct pr_backend_set *set, __u64 now, struct pr_backend_choice *out)
{
	struct pr_aff_value4 *aff = bpf_map_lookup_elem(&pr_aff4, key);
	struct pr_nat_be_value4 *be;
	__u64 timeout_ns;

	if (!aff)
		return 0;
	timeout_ns = (__u64)(fe->affinity_timeout_s ? fe->affinity_timeout_s
						    : PR_DEFAULT_AFFINITY_TIMEOUT_S) * PR_NS_PER_SEC;
	if (now > aff->last_used_ns && now - aff->last_used_ns > timeout_ns)
		return 0;
	if (aff->ordinal < set->base || aff->ordinal - set->base >= set->count)
		return 0;
	be = pr_backend_at(fe->svc_id, aff->ordinal);
	if (!be || be->addr != aff->backend_addr || be->port != aff->backend_port)
		return 0;
	aff->last_used_ns = now;
	out->ordinal = aff->ordinal;
	out->addr = be->addr;
	out->port = be->port;
	out->from_affinity = 1;
	return 1;
}

PR_INLINE int pr_choose_backend(const struct pr_nat_fe_key4 *fe_key, const struct pr_nat_fe_value *fe,
				const struct pr_backend_set *set, __be32 client, __u64 now, struct pr_backend_choice *out)
{
	struct pr_aff_key4 aff_key = { .fe = *fe_key, .client = client };
	struct pr_nat_be_value4 *be;
	int affinity = fe->flags & PR_FE_F_AFFINITY;

	if (set->count == 0)
		return PR_NO_BACKENDS;
	if (affinity && pr_affinity_lookup(&aff_key, fe, set, now, out))
		return PR_CHOSEN;

	out->ordinal = set->base + bpf_get_prandom_u32() % set->count;
	out->from_affinity = 0;
	be = pr_backend_at(fe->svc_id, out->ordinal);
	if (!be)
		return PR_BACKEND_MISSING;
	out->addr = be->addr;
	out->port = be->port;

	if (affinity) {
		struct pr_aff_value4 aff = {
			.last_used_ns = now,
			.ordinal = out->ordinal,
			.backend_addr = be->addr,
			.backend_port = be->port,
		};
		bpf_map_update_elem(&pr_aff4, &aff_key, &aff, BPF_ANY);
	}
	return PR_CHOSEN;
}

/* DNAT: destination address and port of the packet become addr:port. */
PR_INLINE int pr_dnat(struct __sk_buff *skb, const struct pr_pkt *p, __be32 addr, __be16 port)
{
	return pr_rewrite_addr_port(skb, p->l4_off, p->proto, 0, p->daddr, addr, p->dport, port);
}

/* Reverse NAT of a reply: source address and port become the Service's addr:port. */
PR_INLINE int pr_snat(struct __sk_buff *skb, const struct pr_pkt *p, __be32 addr, __be16 port)
{
	return pr_rewrite_addr_port(skb, p->l4_off, p->proto, 1, p->saddr, addr, p->sport, port);
}

#endif /* PR_NAT_H */
