/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * policy_repr.bpf.c — BENCH ONLY (build/bench/, loaded by proxy-bench's policy suite on the core's maps, never by
 * the daemon): two representations of one endpoint's NetworkPolicy, each a TC program that decides on an ingress
 * packet (peer = source, port = destination port) and nothing else, so that their per-packet costs compare:
 *
 *   pr_bench_pol_lpm:  the chosen one, pr_pol_check of pr_policy.h on the core's pr_pol_ports4 / pr_pol_peers4
 *                      (the set in pr_bench_config): two LPM lookups whatever the number of rules;
 *   pr_bench_pol_loop: a rule table in an array walked by a bounded loop, first match decides, no match denies
 *                      (struct pr_bench_rule: peer prefix, mask, protocol, port range, verdict).
 *
 * Both count their verdict in pr_bench_pol_verdicts (allowed, denied, rules visited) so that the harness proves
 * which path every timed run took.
 */
#include "pr_common.h"
#include "pr_parse.h"
#include "pr_policy.h"

#define PR_BENCH_MAX_RULES 1024

struct pr_bench_rule {
	__be32 addr;    /* NBO: peer network */
	__be32 mask;    /* NBO: peer mask */
	__u16 port_lo;  /* HBO: first port of the range */
	__u16 port_hi;  /* HBO: last port of the range */
	__u8 proto;     /* IPPROTO_*, 0: any */
	__u8 verdict;   /* enum pr_pol_verdict */
	__u16 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct pr_bench_rule);
	__uint(max_entries, PR_BENCH_MAX_RULES);
} pr_bench_rules SEC(".maps");

/* [0]: which rule set each program uses (written by the harness between chunks): read once per packet by both */
struct pr_bench_config {
	__u32 lpm_set;    /* the set id pr_bench_pol_lpm asks pr_pol_ports4 / pr_pol_peers4 about */
	__u32 loop_rules; /* the number of rules pr_bench_pol_loop walks from pr_bench_rules[0] */
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct pr_bench_config);
	__uint(max_entries, 1);
} pr_bench_config SEC(".maps");

enum { PR_BENCH_ALLOWED = 0, PR_BENCH_DENIED = 1, PR_BENCH_VISITED = 2 };

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 3);
} pr_bench_pol_verdicts SEC(".maps");

PR_INLINE void pr_bench_count(__u32 slot, __u64 n)
{
	__u64 *value = bpf_map_lookup_elem(&pr_bench_pol_verdicts, &slot);

	if (value)
		*value += n;
}

PR_INLINE int pr_bench_verdict(int allowed)
{
	pr_bench_count(allowed ? PR_BENCH_ALLOWED : PR_BENCH_DENIED, 1);
	return allowed ? TC_ACT_OK : TC_ACT_SHOT;
}

SEC("tc")
int pr_bench_pol_lpm(struct __sk_buff *skb)
{
	struct pr_pkt p = {};
	__u32 zero = 0;
	struct pr_bench_config *cfg;

	if (pr_parse(skb, &p) != PR_PARSE_OK)
		return TC_ACT_OK;
	cfg = bpf_map_lookup_elem(&pr_bench_config, &zero);
	if (!cfg)
		return TC_ACT_OK;
	return pr_bench_verdict(pr_pol_check(cfg->lpm_set, p.proto, p.dport, p.saddr) == PR_POL_PASS);
}

SEC("tc")
int pr_bench_pol_loop(struct __sk_buff *skb)
{
	struct pr_pkt p = {};
	__u32 zero = 0;
	struct pr_bench_config *cfg;
	__u32 n, i;
	__u16 port;

	if (pr_parse(skb, &p) != PR_PARSE_OK)
		return TC_ACT_OK;
	cfg = bpf_map_lookup_elem(&pr_bench_config, &zero);
	n = cfg ? cfg->loop_rules : 0;
	port = bpf_ntohs(p.dport);
	for (i = 0; i < PR_BENCH_MAX_RULES && i < n; i++) {
		__u32 index = i;
		struct pr_bench_rule *rule = bpf_map_lookup_elem(&pr_bench_rules, &index);

		if (!rule)
			break;
		if ((p.saddr & rule->mask) != rule->addr || (rule->proto && rule->proto != p.proto) || port < rule->port_lo ||
		    port > rule->port_hi)
			continue;
		pr_bench_count(PR_BENCH_VISITED, i + 1);
		return pr_bench_verdict(rule->verdict == PR_POL_ALLOW);
	}
	pr_bench_count(PR_BENCH_VISITED, i);
	return pr_bench_verdict(0);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
