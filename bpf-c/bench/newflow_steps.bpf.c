/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * newflow_steps.bpf.c — BENCH ONLY (build/bench/, loaded by proxy-bench's newflow-steps suite on the core's maps,
 * never by the daemon): the new-flow path of pr_tc_from_wl cut into cumulative prefixes, each a TC program run on
 * the same SYNs to a ClusterIP, so that the difference between two neighbours is what one step costs:
 *
 *   pr_bench_nf_parse:  pr_parse only;
 *   pr_bench_nf_ct_miss: + the pr_ct4 lookup of the SYN's tuple (a miss);
 *   pr_bench_nf_fe:     + the pr_nat_fe4 lookup (pr_lb_frontend4);
 *   pr_bench_nf_be:     + the backend choice (pr_lb_choose4: one pr_nat_be4 lookup, the clock);
 *   pr_bench_nf_pol:    + the policy endpoint lookup of pr_pol_egress (pr_pol_ep4, a miss: no policy);
 *   pr_bench_nf_ct:     + the conntrack pair written (pr_ct_create: two inserts into the LRU hash pr_ct4).
 *
 * And beside the chain, the alternative the measurement asks about:
 *
 *   pr_bench_nf_be_array: pr_bench_nf_fe + the backend read from an ARRAY indexed by svc_id × stride + ordinal
 *                         (pr_bench_nf_be_arr, filled by the harness from pr_nat_be4), instead of the pr_nat_be4 hash:
 *                         what a backend array would cost against pr_bench_nf_be;
 *   pr_bench_nf_direct:   pr_bench_nf_ct_miss + frontend AND backend from one 64-byte entry of an ARRAY indexed by the
 *                         VIP's offset in the Service CIDR (pr_bench_nf_direct_map, filled by the harness: the frontend
 *                         value, its port and protocol, its backends inline): one cold cache line for both, against
 *                         pr_bench_nf_be (two hash lookups). A sketch of the layout, not a design: one port per VIP.
 *
 * Two ways to make that entry safe to rewrite while packets read it (an ARRAY update copies the value in place, so a
 * reader could see half of an old entry and half of a new one), each timed against pr_bench_nf_ct_miss too:
 *
 *   pr_bench_nf_direct_locked: the same entry with a bpf_spin_lock in it, read under the lock (the control plane
 *                         writes with BPF_F_LOCK): one level, 64 bytes per address of the Service CIDR;
 *   pr_bench_nf_two_level: copy on write: a 4-byte slot number per address of the Service CIDR
 *                         (pr_bench_nf_slot_of), then the 64-byte entry in a dense ARRAY of slots (pr_bench_nf_slots),
 *                         never rewritten while a slot number points at it: a new entry goes to a free slot, then the
 *                         4-byte slot number flips. Two cold lines, no lock, 4 bytes per address.
 *   pr_bench_nf_direct_sum: the sketch's entry with a checksum over its other 15 words (the harness writes it with the
 *                         entry), verified before use: a torn read would fail it and fall back to the hash path. One cold
 *                         line, no write, no lock.
 *   pr_bench_nf_direct_copy: the same copy of the entry to the stack as pr_bench_nf_direct_sum, used without the
 *                         checksum: splits what the check costs from what the whole-line copy costs.
 *   pr_bench_nf_direct_seq: a seqlock reader of the sketch's entry: its 32-bit word 7 read before and after the fields it
 *                         needs (volatile loads, which x86 keeps in order), the entry used only when both reads agree. A
 *                         writer through a memory-mapped array would make the word odd, write, then make it even again; the
 *                         harness writes no lock, so the parity test is left out (one AND on a loaded word).
 *
 * The DNAT rewrite that pr_tc_from_wl adds on top is not repeated here (the full program is timed beside these).
 * Each counts the furthest step it reached in pr_bench_nf_reached, so that the harness proves every timed run found
 * its frontend and backend (a miss would make a step look cheap).
 */
#include "pr_common.h"
#include "pr_parse.h"
#include "pr_conntrack.h"
#include "pr_lb.h"
#include "pr_policy.h"

enum {
	PR_BENCH_NF_PARSED = 0,
	PR_BENCH_NF_FRONTEND = 1,
	PR_BENCH_NF_BACKEND = 2,
	PR_BENCH_NF_CREATED = 3,
	PR_BENCH_NF_BACKEND_ARRAY = 4,
	PR_BENCH_NF_DIRECT = 5,
	PR_BENCH_NF_DIRECT_LOCKED = 6,
	PR_BENCH_NF_TWO_LEVEL = 7,
	PR_BENCH_NF_DIRECT_SUM = 8,
	PR_BENCH_NF_DIRECT_COPY = 9,
	PR_BENCH_NF_DIRECT_SEQ = 10,
	PR_BENCH_NF_SLOTS
};

/* The backend array: svc_id × PR_BENCH_NF_STRIDE + ordinal (ids are dense from 1; the bench's Services have 4 backends). */
#define PR_BENCH_NF_STRIDE 4

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct pr_nat_be_value4);
	__uint(max_entries, 1 << 19);
} pr_bench_nf_be_arr SEC(".maps");

/* The direct entry: 64 bytes, one cache line. */
#define PR_BENCH_NF_CIDR_BASE 0x0a600000u /* 10.96.0.0, the bench's Service CIDR (/12) */
#define PR_BENCH_NF_CIDR_SIZE (1u << 20)

struct pr_bench_nf_direct {
	struct pr_nat_fe_value fe;              /* 24 */
	__be16 port;                            /* NBO: the frontend's port */
	__u8 proto;
	__u8 pad;
	__u32 sum;                              /* pr_bench_nf_direct_sum only: pr_bench_nf_checksum of the other words */
	struct pr_nat_be_value4 be[PR_BENCH_NF_STRIDE]; /* 32: ordinals 0..3 */
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct pr_bench_nf_direct);
	__uint(max_entries, PR_BENCH_NF_CIDR_SIZE);
} pr_bench_nf_direct_map SEC(".maps");

/* The direct entry with a lock: the frontend value, port and protocol, 4 backends, still 64 bytes. */
struct pr_bench_nf_locked {
	struct bpf_spin_lock lock;
	__be16 port;
	__u8 proto;
	__u8 pad;
	struct pr_nat_fe_value fe;              /* 24, at 8 */
	struct pr_nat_be_value4 be[PR_BENCH_NF_STRIDE]; /* 32, at 32 */
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct pr_bench_nf_locked);
	__uint(max_entries, PR_BENCH_NF_CIDR_SIZE);
} pr_bench_nf_locked_map SEC(".maps");

/* Copy on write: the slot of each address of the Service CIDR (0 = none), then the slots (the unlocked 64-byte entry). */
#define PR_BENCH_NF_SLOT_COUNT (1u << 18)

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u32);
	__uint(max_entries, PR_BENCH_NF_CIDR_SIZE);
} pr_bench_nf_slot_of SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct pr_bench_nf_direct);
	__uint(max_entries, PR_BENCH_NF_SLOT_COUNT);
} pr_bench_nf_slots SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, PR_BENCH_NF_SLOTS);
} pr_bench_nf_reached SEC(".maps");

enum { STEP_PARSE = 0, STEP_CT_MISS, STEP_FE, STEP_BE, STEP_POL, STEP_CT, STEP_BE_ARRAY, STEP_DIRECT, STEP_DIRECT_LOCKED, STEP_TWO_LEVEL, STEP_DIRECT_SUM, STEP_DIRECT_COPY, STEP_DIRECT_SEQ };

/* FNV-1a over the entry's 32-bit words, word 7 (the sum itself) left out; the harness computes the same. */
PR_INLINE __u32 pr_bench_nf_checksum(const struct pr_bench_nf_direct *d)
{
	const __u32 *w = (const __u32 *)d;
	__u32 h = 2166136261u;

#pragma unroll
	for (int i = 0; i < 16; i++) {
		if (i == 7)
			continue;
		h = (h ^ w[i]) * 16777619u;
	}
	return h;
}

/* The sketch's entry, used only when its checksum holds (copied out first, so the check and the use see the same bytes);
 * with check 0 the same copy used unchecked. */
PR_INLINE int pr_bench_nf_direct_sum_read(const struct pr_pkt *p, __u32 index, int check)
{
	struct pr_bench_nf_direct *d = bpf_map_lookup_elem(&pr_bench_nf_direct_map, &index);
	struct pr_bench_nf_direct copy;
	__u32 count;

	if (!d)
		return 0;
	__builtin_memcpy(&copy, d, sizeof(copy));
	if ((check && pr_bench_nf_checksum(&copy) != copy.sum) || copy.port != p->dport || copy.proto != p->proto)
		return 0;
	count = copy.fe.backend_count;
	return count && copy.be[(bpf_get_prandom_u32() % count) & (PR_BENCH_NF_STRIDE - 1)].addr;
}

/* The sketch's entry between two reads of its sequence word: only the fields used, no copy of the line. */
PR_INLINE int pr_bench_nf_direct_seq_read(const struct pr_pkt *p, __u32 index)
{
	struct pr_bench_nf_direct *d = bpf_map_lookup_elem(&pr_bench_nf_direct_map, &index);
	__u32 before, count;
	__be32 addr;

	if (!d)
		return 0;
	before = *(volatile __u32 *)&d->sum;
	if (*(volatile __be16 *)&d->port != p->dport || *(volatile __u8 *)&d->proto != p->proto)
		return 0;
	count = *(volatile __u32 *)&d->fe.backend_count;
	if (!count)
		return 0;
	addr = *(volatile __be32 *)&d->be[(bpf_get_prandom_u32() % count) & (PR_BENCH_NF_STRIDE - 1)].addr;
	return *(volatile __u32 *)&d->sum == before && addr;
}

/* The entry of an address under the lock: backend `pick` (random) copied out, as the real path would copy what it needs. */
PR_INLINE int pr_bench_nf_locked_read(const struct pr_pkt *p, __u32 index)
{
	struct pr_bench_nf_locked *d = bpf_map_lookup_elem(&pr_bench_nf_locked_map, &index);
	__u32 pick = bpf_get_prandom_u32();
	__be32 addr = 0;
	__u32 count;

	if (!d)
		return 0;
	bpf_spin_lock(&d->lock);
	count = d->fe.backend_count;
	if (d->port == p->dport && d->proto == p->proto && count)
		addr = d->be[(pick % count) & (PR_BENCH_NF_STRIDE - 1)].addr;
	bpf_spin_unlock(&d->lock);
	return addr != 0;
}

/* Copy on write: the address's slot number, then the slot's entry (immutable while it is pointed at). */
PR_INLINE int pr_bench_nf_two_level_read(const struct pr_pkt *p, __u32 index)
{
	__u32 *slot = bpf_map_lookup_elem(&pr_bench_nf_slot_of, &index);
	struct pr_bench_nf_direct *d;
	__u32 number, count;

	if (!slot || !*slot)
		return 0;
	number = *slot;
	d = bpf_map_lookup_elem(&pr_bench_nf_slots, &number);
	if (!d || d->port != p->dport || d->proto != p->proto)
		return 0;
	count = d->fe.backend_count;
	return count && d->be[(bpf_get_prandom_u32() % count) & (PR_BENCH_NF_STRIDE - 1)].addr;
}

PR_INLINE void pr_bench_nf_count(__u32 slot)
{
	__u64 *value = bpf_map_lookup_elem(&pr_bench_nf_reached, &slot);

	if (value)
		*value += 1;
}

/* Runs the new-flow path up to and including `last`; always TC_ACT_OK, the counters tell how far it got. */
PR_INLINE int pr_bench_nf(struct __sk_buff *skb, int last)
{
	struct pr_pkt p = {};
	struct pr_ct_key4 key = {};
	struct pr_nat_fe_key4 fe_key = {};
	struct pr_lb_result lb = {};
	struct pr_ct_remote remote = {};
	struct pr_nat_fe_value *fe;
	int verdict = PR_LB_NOT_SERVICE;
	__u64 now;

	if (pr_parse(skb, &p) != PR_PARSE_OK)
		return TC_ACT_OK;
	pr_bench_nf_count(PR_BENCH_NF_PARSED);
	if (last == STEP_PARSE)
		return TC_ACT_OK;
	key.src = p.saddr;
	key.dst = p.daddr;
	key.sport = p.sport;
	key.dport = p.dport;
	key.proto = p.proto;
	if (bpf_map_lookup_elem(&pr_ct4, &key) || last == STEP_CT_MISS)
		return TC_ACT_OK;
	if (last == STEP_DIRECT) {
		__u32 index = bpf_ntohl(p.daddr) - PR_BENCH_NF_CIDR_BASE;
		struct pr_bench_nf_direct *d = bpf_map_lookup_elem(&pr_bench_nf_direct_map, &index);
		__u32 count;

		if (!d || d->port != p.dport || d->proto != p.proto)
			return TC_ACT_OK;
		count = d->fe.backend_count;
		now = bpf_ktime_get_ns();
		if (count && now && d->be[(bpf_get_prandom_u32() % count) & (PR_BENCH_NF_STRIDE - 1)].addr)
			pr_bench_nf_count(PR_BENCH_NF_DIRECT);
		return TC_ACT_OK;
	}
	if (last == STEP_DIRECT_SEQ) {
		__u32 index = bpf_ntohl(p.daddr) - PR_BENCH_NF_CIDR_BASE;

		if (index >= PR_BENCH_NF_CIDR_SIZE)
			return TC_ACT_OK;
		if (pr_bench_nf_direct_seq_read(&p, index) && bpf_ktime_get_ns())
			pr_bench_nf_count(PR_BENCH_NF_DIRECT_SEQ);
		return TC_ACT_OK;
	}
	if (last == STEP_DIRECT_SUM || last == STEP_DIRECT_COPY) {
		__u32 index = bpf_ntohl(p.daddr) - PR_BENCH_NF_CIDR_BASE;

		if (index >= PR_BENCH_NF_CIDR_SIZE)
			return TC_ACT_OK;
		if (pr_bench_nf_direct_sum_read(&p, index, last == STEP_DIRECT_SUM) && bpf_ktime_get_ns())
			pr_bench_nf_count(last == STEP_DIRECT_SUM ? PR_BENCH_NF_DIRECT_SUM : PR_BENCH_NF_DIRECT_COPY);
		return TC_ACT_OK;
	}
	if (last == STEP_DIRECT_LOCKED || last == STEP_TWO_LEVEL) {
		__u32 index = bpf_ntohl(p.daddr) - PR_BENCH_NF_CIDR_BASE;

		if (index >= PR_BENCH_NF_CIDR_SIZE)
			return TC_ACT_OK;
		if ((last == STEP_DIRECT_LOCKED ? pr_bench_nf_locked_read(&p, index) : pr_bench_nf_two_level_read(&p, index)) &&
		    bpf_ktime_get_ns())
			pr_bench_nf_count(last == STEP_DIRECT_LOCKED ? PR_BENCH_NF_DIRECT_LOCKED : PR_BENCH_NF_TWO_LEVEL);
		return TC_ACT_OK;
	}
	fe_key.vip = p.daddr;
	fe_key.port = p.dport;
	fe_key.proto = p.proto;
	fe = pr_lb_frontend4(&fe_key, &verdict);
	if (!fe)
		return TC_ACT_OK;
	pr_bench_nf_count(PR_BENCH_NF_FRONTEND);
	if (last == STEP_FE)
		return TC_ACT_OK;
	now = bpf_ktime_get_ns();
	if (last == STEP_BE_ARRAY) {
		__u32 index = fe->svc_id * PR_BENCH_NF_STRIDE + (fe->backend_count ? bpf_get_prandom_u32() % fe->backend_count : 0);
		struct pr_nat_be_value4 *be = bpf_map_lookup_elem(&pr_bench_nf_be_arr, &index);

		if (be && be->addr && now)
			pr_bench_nf_count(PR_BENCH_NF_BACKEND_ARRAY);
		return TC_ACT_OK;
	}
	if (pr_lb_choose4(&fe_key, fe, p.saddr, 1, PR_LB_INTERNAL, now, &lb) != PR_LB_CHOSEN)
		return TC_ACT_OK;
	pr_bench_nf_count(PR_BENCH_NF_BACKEND);
	if (last == STEP_BE)
		return TC_ACT_OK;
	if (!pr_pol_egress(&p, lb.choice.addr, lb.choice.port, 1) || last == STEP_POL)
		return TC_ACT_OK;
	if (pr_ct_create(&key, lb.choice.addr, lb.choice.port, lb.svc_id, pr_ct_tcp_initial(p.proto, p.tcp_flags), 0, now,
			 &remote) == 0)
		pr_bench_nf_count(PR_BENCH_NF_CREATED);
	return TC_ACT_OK;
}

SEC("tc")
int pr_bench_nf_parse(struct __sk_buff *skb)
{
	return pr_bench_nf(skb, STEP_PARSE);
}

SEC("tc")
int pr_bench_nf_ct_miss(struct __sk_buff *skb)
{
	return pr_bench_nf(skb, STEP_CT_MISS);
}

SEC("tc")
int pr_bench_nf_fe(struct __sk_buff *skb)
{
	return pr_bench_nf(skb, STEP_FE);
}

SEC("tc")
int pr_bench_nf_be(struct __sk_buff *skb)
{
	return pr_bench_nf(skb, STEP_BE);
}

SEC("tc")
int pr_bench_nf_pol(struct __sk_buff *skb)
{
	return pr_bench_nf(skb, STEP_POL);
}

SEC("tc")
int pr_bench_nf_ct(struct __sk_buff *skb)
{
	return pr_bench_nf(skb, STEP_CT);
}

SEC("tc")
int pr_bench_nf_be_array(struct __sk_buff *skb)
{
	return pr_bench_nf(skb, STEP_BE_ARRAY);
}

SEC("tc")
int pr_bench_nf_direct(struct __sk_buff *skb)
{
	return pr_bench_nf(skb, STEP_DIRECT);
}

SEC("tc")
int pr_bench_nf_direct_locked(struct __sk_buff *skb)
{
	return pr_bench_nf(skb, STEP_DIRECT_LOCKED);
}

SEC("tc")
int pr_bench_nf_two_level(struct __sk_buff *skb)
{
	return pr_bench_nf(skb, STEP_TWO_LEVEL);
}

SEC("tc")
int pr_bench_nf_direct_sum(struct __sk_buff *skb)
{
	return pr_bench_nf(skb, STEP_DIRECT_SUM);
}

SEC("tc")
int pr_bench_nf_direct_copy(struct __sk_buff *skb)
{
	return pr_bench_nf(skb, STEP_DIRECT_COPY);
}

SEC("tc")
int pr_bench_nf_direct_seq(struct __sk_buff *skb)
{
	return pr_bench_nf(skb, STEP_DIRECT_SEQ);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
