/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Placeholder while the NAT program is written. */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include "pr_maps.h"

SEC("tc")
int pr_tc_from_wl(struct __sk_buff *skb)
{
	return TC_ACT_OK;
}

SEC("tc")
int pr_tc_pass(struct __sk_buff *skb)
{
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
