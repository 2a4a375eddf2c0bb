/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * pr_maps.h — the BTF map definitions of the core (names, types, default sizes).
 * Layouts come from pr_map_abi.h. max_entries here are defaults: the control plane sets
 * the real sizes before load (bpf_map__set_max_entries), so these only matter to tools
 * that load the object as it is. Map names are at most 15 characters (kernel limit).
 */
#ifndef PR_MAPS_H
#define PR_MAPS_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "pr_map_abi.h"

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct pr_nat_fe_key4);
	__type(value, struct pr_nat_fe_value);
	__uint(max_entries, 65536);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} pr_nat_fe4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct pr_nat_be_key);
	__type(value, struct pr_nat_be_value4);
	__uint(max_entries, 262144);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} pr_nat_be4 SEC(".maps");

/* The ClusterIP fast path (pr_map_abi.h): sized by the control plane to a power of two, pr_config.direct_mask4 + 1. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct pr_nat_direct4);
	__uint(max_entries, 1);
} pr_nat_direct4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, struct pr_aff_key4);
	__type(value, struct pr_aff_value4);
	__uint(max_entries, 65536);
} pr_aff4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, struct pr_ct_key4);
	__type(value, struct pr_ct_value4);
	__uint(max_entries, 262144);
} pr_ct4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, struct pr_sk_rev_key4);
	__type(value, struct pr_sk_rev_value4);
	__uint(max_entries, 65536);
} pr_sk_rev4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__type(key, int);
	__type(value, struct pr_sk_store4);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} pr_sk_store4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__type(key, struct pr_svc_cidr_key4);
	__type(value, struct pr_svc_cidr_value);
	__uint(max_entries, 64);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} pr_svc_cidr4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__type(key, struct pr_lb_src_key4);
	__type(value, struct pr_lb_src_value);
	__uint(max_entries, 4096);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} pr_lb_src4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__type(key, struct pr_route_key4);
	__type(value, struct pr_route_value);
	__uint(max_entries, 16384);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} pr_routes4 SEC(".maps");

/* NetworkPolicy (pr_map_abi.h "NetworkPolicy"): sizes set by the daemon before load. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct pr_pol_ep_key4);
	__type(value, struct pr_pol_ep);
	__uint(max_entries, 16384);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} pr_pol_ep4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__type(key, struct pr_pol_port_key);
	__type(value, struct pr_pol_port_value);
	__uint(max_entries, 65536);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} pr_pol_ports4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__type(key, struct pr_pol_peer_key4);
	__type(value, struct pr_pol_peer_value);
	__uint(max_entries, 262144);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} pr_pol_peers4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, struct pr_pol_ct_key4);
	__type(value, struct pr_pol_ct_value4);
	__uint(max_entries, 65536);
} pr_pol_ct4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u32);
	__type(value, struct pr_svc_name);
	__uint(max_entries, 65536);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} pr_svc_names SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, PR_CNT_MAX);
} pr_counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct pr_config);
	__uint(max_entries, 1);
} pr_config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct pr_host_netns);
	__uint(max_entries, 1);
} pr_host_netns SEC(".maps");

#endif /* PR_MAPS_H */
