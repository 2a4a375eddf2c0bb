/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * pr_lb.h — the one service translation shared by the TC path (first packet of a flow) and the
 * socket hooks (connect / sendmsg): VIP:port/proto -> frontend -> backend, with ClientIP affinity.
 * Callers differ only in what they do with the verdict (DNAT or reject a packet; rewrite or
 * refuse a socket call). Two halves, pr_lb_frontend4 then pr_lb_choose4, so that every caller
 * reads the clock (which only the backend choice needs, for affinity) only once a frontend was
 * found: traffic to no Service needs no timestamp. IPv6 siblings will take the v6 frontend key and
 * return the same verdicts.
 */
#ifndef PR_LB_H
#define PR_LB_H

#include "pr_common.h"
#include "pr_nat.h"

enum pr_lb_verdict {
	PR_LB_CHOSEN = 0,          /* out->choice holds the backend */
	PR_LB_NOT_SERVICE = 1,     /* no frontend, outside every Service CIDR: not ours */
	PR_LB_UNKNOWN_SERVICE = 2, /* no frontend, inside a Service CIDR: refuse, do not route on */
	PR_LB_NO_BACKENDS = 3,     /* frontend with zero backends: refuse */
	PR_LB_BACKEND_MISSING = 4, /* an ordinal < count has no backend entry: refuse */
	PR_LB_NEEDS_CLIENT = 5,    /* affinity or source-range frontend, but the caller does not know the client address */
	PR_LB_SOURCE_DENIED = 6,   /* LoadBalancer source ranges exclude the client: drop */
	PR_LB_NO_LOCAL = 7,        /* traffic policy Local, no local backend: drop (kube-proxy drops, not rejects) */
};

/* Where the caller sits, for the traffic policies: from outside the node, or from its pods and host. */
enum pr_lb_origin {
	PR_LB_INTERNAL = 0, /* pod veths, socket hooks */
	PR_LB_EXTERNAL = 1, /* host data interfaces */
};

struct pr_lb_result {
	struct pr_backend_choice choice;
	__u32 svc_id;   /* set once a frontend was found */
	__u32 fe_flags; /* the frontend's PR_FE_F_*, set with svc_id */
};

/*
 * The frontend of a destination, or NULL with *verdict set: PR_LB_UNKNOWN_SERVICE inside a Service
 * CIDR, PR_LB_NOT_SERVICE outside. The first half of the translation.
 */
PR_INLINE struct pr_nat_fe_value *pr_lb_frontend4(const struct pr_nat_fe_key4 *fe_key, int *verdict)
{
	struct pr_nat_fe_value *fe = bpf_map_lookup_elem(&pr_nat_fe4, fe_key);

	if (!fe) {
		struct pr_svc_cidr_key4 cidr = { .prefixlen = 32, .addr = fe_key->vip };

		*verdict = bpf_map_lookup_elem(&pr_svc_cidr4, &cidr) ? PR_LB_UNKNOWN_SERVICE : PR_LB_NOT_SERVICE;
	}
	return fe;
}

/* pr_direct_check4 (pr_map_abi.h): FNV-1a over words 1..15 of a slot, as the control plane seals it. */
PR_INLINE __u32 pr_direct_check4(const struct pr_nat_direct4 *slot)
{
	const __u32 *w = (const __u32 *)slot;
	__u32 h = PR_DIRECT_CHECK_BASIS;

#pragma unroll
	for (int i = 1; i < (int)(sizeof(*slot) / sizeof(__u32)); i++)
		h = (h ^ w[i]) * PR_DIRECT_CHECK_PRIME;
	return h;
}

/*
 * The ClusterIP fast path, for PR_LB_INTERNAL callers before pr_lb_frontend4: frontend and backend from the VIP's
 * slot in pr_nat_direct4, one cache line instead of the two hash lookups. 1 with `out` filled (svc_id, fe_flags 0, a
 * random ordinal of the cluster set, as pr_lb_choose4 would choose for such a frontend), 0 to take the hash path:
 * table off (mask 0), slot empty or another frontend's, or read while the control plane rewrote it (the check fails).
 * The slot is copied out first, so that the check and the use see the same bytes. The caller reads the clock after
 * this, not before: a clock read ahead of the cold slot made it cost 2-4 times more (BENCHMARKS.md, new-flow steps).
 */
PR_INLINE int pr_lb_direct4(const struct pr_nat_fe_key4 *fe_key, struct pr_lb_result *out)
{
	__u32 zero = 0, index, count, ordinal;
	struct pr_config *config = bpf_map_lookup_elem(&pr_config, &zero);
	struct pr_nat_direct4 *slot;
	struct pr_nat_direct4 copy;

	if (!config || !config->direct_mask4)
		return 0;
	index = bpf_ntohl(fe_key->vip) & config->direct_mask4;
	slot = bpf_map_lookup_elem(&pr_nat_direct4, &index);
	if (!slot)
		return 0;
	__builtin_memcpy(&copy, slot, sizeof(copy));
	if (copy.vip != fe_key->vip || copy.port != fe_key->port || copy.proto != fe_key->proto ||
	    pr_direct_check4(&copy) != copy.check)
		return 0;
	count = copy.backend_count;
	if (count == 0 || count > PR_DIRECT_BACKENDS)
		return 0;
	ordinal = bpf_get_prandom_u32() % count;
	/* clang knows ordinal < count <= 6 and would drop the test below; the verifier must see it to bound the read */
	asm volatile("" : "+r"(ordinal));
	if (ordinal >= PR_DIRECT_BACKENDS || !copy.be[ordinal].addr)
		return 0;
	out->svc_id = copy.svc_id;
	out->fe_flags = 0;
	out->choice.ordinal = ordinal;
	out->choice.addr = copy.be[ordinal].addr;
	out->choice.port = copy.be[ordinal].port;
	out->choice.from_affinity = 0;
	pr_count(PR_CNT_NAT_DIRECT);
	return 1;
}

/*
 * The second half: the backend for the frontend `fe` of `fe_key`. `client` is the client's affinity
 * identity: its address as the TC path sees it (the packet's source; a pod socket's bound address),
 * or PR_AFF_CLIENT_HOST for a host-netns socket; `client_known` = 0 lets a caller that cannot know
 * it (an unbound pod socket, a packet from 0.0.0.0) get PR_LB_NEEDS_CLIENT for affinity frontends
 * instead of an affinity entry keyed by a wrong address. `origin` (enum pr_lb_origin) picks the set under
 * the traffic policies: the local set when the frontend's *_LOCAL flag for that origin is set.
 */
PR_INLINE int pr_lb_choose4(const struct pr_nat_fe_key4 *fe_key, const struct pr_nat_fe_value *fe, __be32 client,
			    int client_known, int origin, __u64 now, struct pr_lb_result *out)
{
	struct pr_backend_set set = { .base = 0, .count = fe->backend_count };
	int chosen;

	out->svc_id = fe->svc_id;
	out->fe_flags = fe->flags;
	if (fe->flags & PR_FE_F_SOURCE_RANGES) {
		struct pr_lb_src_key4 src = { .prefixlen = 64, .svc_id = fe->svc_id, .addr = client };

		if (!client_known)
			return PR_LB_NEEDS_CLIENT;
		if (!bpf_map_lookup_elem(&pr_lb_src4, &src))
			return PR_LB_SOURCE_DENIED;
	}
	if (fe->flags & (origin == PR_LB_EXTERNAL ? PR_FE_F_EXT_LOCAL : PR_FE_F_INT_LOCAL)) {
		set.base = PR_LOCAL_ORDINAL_BASE;
		set.count = fe->local_count;
		if (set.count == 0)
			return PR_LB_NO_LOCAL;
	}
	if (set.count == 0)
		return PR_LB_NO_BACKENDS;
	if ((fe->flags & PR_FE_F_AFFINITY) && !client_known)
		return PR_LB_NEEDS_CLIENT;
	chosen = pr_choose_backend(fe_key, fe, &set, client, now, &out->choice);
	if (chosen == PR_NO_BACKENDS)
		return PR_LB_NO_BACKENDS;
	if (chosen == PR_BACKEND_MISSING)
		return PR_LB_BACKEND_MISSING;
	return PR_LB_CHOSEN;
}

#endif /* PR_LB_H */
