/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * sock_destroy.bpf.c — terminates the sockets the socket hooks connected to a backend that left its Service, as
 * Cilium does: BPF iterators over the TCP and UDP sockets of one network namespace call the kfunc
 * bpf_sock_destroy (Linux 6.5+) on each socket that
 *   - connect4 translated (pr_sk_store4, sock_lb.bpf.c: the frontend it asked for and the backend it got),
 *   - through a (frontend, backend) pair the daemon put into pr_sk_doomed4 for this run, and
 *   - is still connected to that backend (its peer is backend_addr:backend_port; a UDP socket connected elsewhere
 *     since, or already disconnected, is left alone).
 * A socket connected to the pod address directly (no Service) has no pr_sk_store4 and is never touched, nor is a
 * socket of the same backend reached through another Service that still has it.
 *
 *   pr_sk_destroy_tcp   iter/tcp   TCP: the socket is aborted (RST to the peer), the application gets ECONNABORTED
 *   pr_sk_destroy_udp   iter/udp   connected UDP: disconnected; its next call fails with ECONNABORTED
 *
 * Each matched socket is reported as one struct pr_sk_destroyed4 in the iterator's output (bpf_seq_write), with
 * bpf_sock_destroy's result, so the daemon counts and logs what happened without a counter map. The iterators run
 * with the socket locked (TCP: full sockets; UDP: batched), which bpf_sock_destroy requires.
 *
 * The compat build (PR_COMPAT: kernels 5.11 to 6.4, which have the iterators and sk storage in tracing programs but
 * not the kfunc) makes the same match and reports each socket with PR_SK_DESTROY_UNSUPPORTED: the daemon says how
 * many sockets stay connected to removed backends. Both need the kernel's BTF (tracing programs).
 *
 * Loaded on the core's maps (the loader hands it their fds, pr_sk_store4 included); pr_sk_doomed4 is its own.
 */
#include "pr_common.h"

#define PR_AF_INET 2
/* include/net/tcp_states.h */
#define PR_TCP_ESTABLISHED 1
#define PR_TCP_CLOSE 7
#define PR_TCP_LISTEN 10

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct pr_sk_doomed_key4);
	__type(value, struct pr_sk_doomed_value);
	__uint(max_entries, 4096);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} pr_sk_doomed4 SEC(".maps");

/* The kernel's types, only the members read here; CO-RE relocates the offsets against the running kernel's BTF. */
struct bpf_iter_meta {
	struct seq_file *seq;
} __attribute__((preserve_access_index));

struct sock_common {
	__be32 skc_daddr;
	__be32 skc_rcv_saddr;
	__be16 skc_dport;
	__u16 skc_num;
	unsigned short skc_family;
	volatile unsigned char skc_state;
} __attribute__((preserve_access_index));

struct udp_sock;

struct bpf_iter__tcp {
	struct bpf_iter_meta *meta;
	struct sock_common *sk_common;
} __attribute__((preserve_access_index));

struct bpf_iter__udp {
	struct bpf_iter_meta *meta;
	struct udp_sock *udp_sk;
} __attribute__((preserve_access_index));

#if !PR_COMPAT
extern int bpf_sock_destroy(struct sock_common *sk) __ksym;
#endif

/*
 * The doomed target sk belongs to, if any: 1 and *rec filled (but result), else 0. sk is the iterator's socket as
 * the kernel typed it (sock_common for TCP, udp_sock for UDP: both begin with struct sock_common). A subprogram (not
 * inlined) so that struct pr_sk_destroyed4 is in the object's BTF, where the layout tests compare it with C#.
 */
static __attribute__((noinline)) int pr_sk_doomed(void *sk, __u8 proto, struct pr_sk_destroyed4 *rec)
{
	struct sock_common *skc = sk;
	struct pr_sk_doomed_key4 key = {};
	struct pr_sk_store4 *st;

	if (skc->skc_family != PR_AF_INET)
		return 0;
	/* a closed TCP socket (aborted already: the iterator may show it again) or a listener; an unconnected UDP one */
	if (proto == IPPROTO_TCP ? (skc->skc_state == PR_TCP_CLOSE || skc->skc_state == PR_TCP_LISTEN)
				 : skc->skc_state != PR_TCP_ESTABLISHED)
		return 0;
	/* NULL for request and time-wait sockets (not full sockets): nothing of an application to terminate there */
	st = bpf_sk_storage_get(&pr_sk_store4, sk, NULL, 0);
	if (!st)
		return 0;
	if (st->backend_addr != skc->skc_daddr || st->backend_port != skc->skc_dport)
		return 0; /* connected elsewhere since (UDP connect() to a non-Service address keeps the storage) */
	key.vip = st->vip;
	key.port = st->port;
	key.proto = proto;
	key.backend_addr = st->backend_addr;
	key.backend_port = st->backend_port;
	if (!bpf_map_lookup_elem(&pr_sk_doomed4, &key))
		return 0;
	rec->src = skc->skc_rcv_saddr;
	rec->dst = skc->skc_daddr;
	rec->sport = bpf_htons(skc->skc_num);
	rec->dport = skc->skc_dport;
	rec->vip = st->vip;
	rec->port = st->port;
	rec->proto = proto;
	rec->pad = 0;
	return 1;
}

PR_INLINE int pr_sk_destroy_one(struct bpf_iter_meta *meta, void *sk, __u8 proto)
{
	struct pr_sk_destroyed4 rec = {};

	if (!pr_sk_doomed(sk, proto, &rec))
		return 0;
#if !PR_COMPAT
	rec.result = bpf_sock_destroy(sk);
#else
	rec.result = PR_SK_DESTROY_UNSUPPORTED;
#endif
	bpf_seq_write(meta->seq, &rec, sizeof(rec));
	return 0;
}

SEC("iter/tcp")
int pr_sk_destroy_tcp(struct bpf_iter__tcp *ctx)
{
	struct sock_common *sk = ctx->sk_common;

	if (!sk)
		return 0;
	return pr_sk_destroy_one(ctx->meta, sk, IPPROTO_TCP);
}

SEC("iter/udp")
int pr_sk_destroy_udp(struct bpf_iter__udp *ctx)
{
	struct udp_sock *sk = ctx->udp_sk;

	if (!sk)
		return 0;
	return pr_sk_destroy_one(ctx->meta, sk, IPPROTO_UDP);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
