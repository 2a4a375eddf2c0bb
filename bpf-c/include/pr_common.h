/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * pr_common.h — includes and small definitions every program shares: kernel UAPI
 * headers, libbpf helpers, byte-order macros, TC verdicts and the counter helper.
 */
#ifndef PR_COMMON_H
#define PR_COMMON_H

#include <linux/bpf.h>
#include <linux/errno.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/in.h>
#include <linux/pkt_cls.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "pr_maps.h"

#define PR_INLINE static __always_inline

/*
 * PR_COMPAT: every object is built twice (bpf-c/Makefile). The default build uses what current
 * kernels offer; -DPR_COMPAT=1 (build/<name>_compat.bpf.o) leaves out what older kernels lack,
 * with the same maps, programs and verdicts, at some cost per packet:
 *   tc_nat:  no bpf_cast_to_kern_ctx kfunc + CO-RE read of ip_summed (Linux 6.2, and kernel BTF):
 *            the L4 checksum goes through bpf_l4_csum_replace, which reads ip_summed itself;
 *            no bpf_ktime_get_coarse_ns (5.11): the exact clock answers the refresh question.
 *   sock_lb: no bpf_set_retval (5.18): a refused connect()/sendmsg() fails with EPERM, the
 *            kernel's error for a program's 0, instead of ECONNREFUSED.
 * The loader tries the default object and loads the compat one only on the failure a kernel
 * without those gives (src/Dataplane/Loading/VariantProbe.cs). Minimum kernels: bpf-c/README.md.
 */
#ifndef PR_COMPAT
#define PR_COMPAT 0
#endif

/* linux/icmp.h pulls in libc headers that do not build for the BPF target: our own ICMP bits. */
struct icmphdr {
	__u8 type;
	__u8 code;
	__sum16 checksum;
	union {
		struct {
			__be16 id;
			__be16 sequence;
		} echo;
		__be32 gateway;
	} un;
};

#define ICMP_ECHOREPLY 0
#define ICMP_DEST_UNREACH 3
#define ICMP_ECHO 8
#define ICMP_TIME_EXCEEDED 11
#define ICMP_PORT_UNREACH 3
#define ICMP_FRAG_NEEDED 4

/*
 * skb->data and skb->data_end, each read by one instruction at the ctx's own address. Plain reads let clang
 * keep &skb->data_end (ctx + 80) in a register across a helper call and load through it later, which the
 * verifier refuses ("dereference of modified ctx ptr"); it did so in pr_parse once a second caller appeared.
 */
PR_INLINE void *pr_skb_data(const struct __sk_buff *skb)
{
	void *data;

	asm volatile("%0 = *(u32 *)(%1 + %2)" : "=r"(data) : "r"(skb), "i"(__builtin_offsetof(struct __sk_buff, data)));
	return data;
}

PR_INLINE void *pr_skb_data_end(const struct __sk_buff *skb)
{
	void *data_end;

	asm volatile("%0 = *(u32 *)(%1 + %2)" : "=r"(data_end)
		     : "r"(skb), "i"(__builtin_offsetof(struct __sk_buff, data_end)));
	return data_end;
}

#define PR_NS_PER_SEC 1000000000ull

/* RFC 792: an ICMP error quotes the IP header and (at least) 64 bits of its data. */
#define PR_ICMP_QUOTE_L4 8

/* IPv4 fragment offset mask and flags (host order after bpf_ntohs). */
#define PR_IP_OFFSET_MASK 0x1fff

PR_INLINE void pr_count(__u32 reason)
{
	__u64 *slot = bpf_map_lookup_elem(&pr_counters, &reason);

	if (slot)
		*slot += 1; /* per-CPU slot: no atomics needed */
}

#endif /* PR_COMMON_H */
