/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * linearity_probe.bpf.c — TEST ONLY (build/test/, embedded in the test assembly). A TC program that
 * records how much of a large packet (skb->len >= PR_PROBE_MIN_LEN) is in the skb's linear part,
 * then hands the packet on unchanged to the next filter (TC_ACT_UNSPEC). Attached in front of
 * pr_tc_from_wl, it proves that the non-linear traffic test really feeds the NAT a packet whose
 * IP header is outside the linear part, instead of assuming it. Its own map, no core maps.
 */
#include "pr_common.h"

#define PR_PROBE_MIN_LEN 4096

struct pr_linearity {
	__u32 packets;    /* large packets seen */
	__u32 min_linear; /* the smallest linear part among them, in bytes */
	__u32 last_len;   /* skb->len of the last one */
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct pr_linearity);
	__uint(max_entries, 1);
} pr_linearity SEC(".maps");

SEC("tc")
int pr_test_linearity(struct __sk_buff *skb)
{
	__u32 zero = 0;
	struct pr_linearity *seen;
	__u32 linear;

	if (skb->len < PR_PROBE_MIN_LEN)
		return TC_ACT_UNSPEC;
	seen = bpf_map_lookup_elem(&pr_linearity, &zero);
	if (!seen)
		return TC_ACT_UNSPEC;
	linear = (__u32)((long)skb->data_end - (long)skb->data);
	if (seen->packets == 0 || linear < seen->min_linear)
		seen->min_linear = linear;
	seen->packets += 1;
	seen->last_len = skb->len;
	return TC_ACT_UNSPEC;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
