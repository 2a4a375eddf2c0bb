/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * pr_tunnel.h — Geneve encapsulation between nodes, done by the programs themselves (no tunnel device to
 * create, own or clean up): bpf_skb_adjust_room makes room after the Ethernet header and tells the kernel the
 * packet is now UDP-tunnelled (so GSO packets are segmented right and their gso_size lowered by the
 * overhead), the outer headers are written in one store, and pr_route_out sends the result to the peer node.
 * The receiving node's host-interface program takes Geneve packets to its own address and tunnel port off
 * before anything else (pr_decap4).
 *
 * Every encapsulated packet: outer IPv4 (DF, TTL 64, from pr_config.node_addr4) + UDP (to the tunnel port,
 * from a port hashed from the inner flow, so that the underlay's ECMP and the receiver's RSS spread flows;
 * checksum zero, as RFC 8926 allows over IPv4) + Geneve (VNI from pr_config, protocol Ethernet) + one
 * struct pr_geneve_opt4 + the inner Ethernet header (the original one). PR_ENCAP4_LEN bytes in all.
 */
#ifndef PR_TUNNEL_H
#define PR_TUNNEL_H

#include "pr_common.h"
#include "pr_parse.h"
#include "pr_reject.h"
#include "pr_route.h"

#define PR_GENEVE_PROTO_TEB 0x6558
#define PR_TUNNEL_TTL 64
#define PR_IP_DF 0x4000

/* Linux 6.3 (not in older uapi headers): tell adjust_room the packet is no longer tunnelled. */
#ifndef BPF_F_ADJ_ROOM_DECAP_L3_IPV4
#define BPF_F_ADJ_ROOM_DECAP_L3_IPV4 (1ULL << 7)
#endif

struct pr_geneve_hdr {
	__u8 ver_optlen; /* version (2 high bits, 0) and options length in 4-byte words */
	__u8 flags;      /* O (control) and C (critical options) bits: zero */
	__be16 proto;    /* PR_GENEVE_PROTO_TEB */
	__u8 vni[3];
	__u8 reserved;
};

struct pr_encap4 {
	struct iphdr ip;
	struct udphdr udp;
	struct pr_geneve_hdr geneve;
	struct pr_geneve_opt4 opt;
	struct ethhdr inner_eth;
} __attribute__((packed));

#define PR_ENCAP4_LEN sizeof(struct pr_encap4)
#define PR_GENEVE_OPT_WORDS (sizeof(struct pr_geneve_opt4) / 4)

/* The tunnel settings of pr_config, defaults filled in; node_addr 0: this node serves no remote backends. */
struct pr_tunnel_cfg {
	__be32 node_addr;
	__be16 port;
	__u16 mtu;
	__u32 vni;
	__u32 ext_mode;
	__u16 snat_min;
	__u16 snat_max;
};

PR_INLINE void pr_tunnel_config(struct pr_tunnel_cfg *out)
{
	__u32 zero = 0;
	struct pr_config *cfg = bpf_map_lookup_elem(&pr_config, &zero);

	out->node_addr = cfg ? cfg->node_addr4 : 0;
	out->port = cfg && cfg->tunnel_port ? cfg->tunnel_port : bpf_htons(PR_DEFAULT_TUNNEL_PORT);
	out->mtu = cfg && cfg->tunnel_mtu ? cfg->tunnel_mtu : PR_DEFAULT_TUNNEL_MTU;
	out->vni = cfg && cfg->tunnel_vni ? cfg->tunnel_vni : PR_DEFAULT_TUNNEL_VNI;
	out->ext_mode = cfg ? cfg->ext_mode : PR_EXT_MODE_TUNNEL;
	out->snat_min = cfg && cfg->snat_port_min ? cfg->snat_port_min : PR_DEFAULT_SNAT_PORT_MIN;
	out->snat_max = cfg && cfg->snat_port_max ? cfg->snat_port_max : PR_DEFAULT_SNAT_PORT_MAX;
	if (out->snat_max < out->snat_min)
		out->snat_max = out->snat_min;
}

/* Whether the packet (not GSO: those are segmented to fit) is too big to be carried by the tunnel. */
PR_INLINE int pr_tunnel_too_big(struct __sk_buff *skb, const struct pr_tunnel_cfg *cfg)
{
	return !skb->gso_size && skb->len > sizeof(struct ethhdr) + cfg->mtu;
}

/*
 * ICMP fragmentation-needed for a packet too big for the tunnel, sent back to its sender from `p->daddr`
 * (the address it asked for), announcing the tunnel MTU. TCP rarely needs it (the MSS is clamped), UDP and
 * the rest do: the sender's kernel lowers its path MTU and sends smaller packets, as it would for a router.
 */
PR_INLINE int pr_too_big(struct __sk_buff *skb, const struct pr_pkt *p, const struct pr_tunnel_cfg *cfg)
{
	return pr_icmp_unreach(skb, p, ICMP_FRAG_NEEDED, bpf_htonl(cfg->mtu), PR_CNT_DROP_TOO_BIG);
}

/* Where a packet is encapsulated to, and the option it carries. */
struct pr_encap_req {
	__be32 peer;  /* the node to send to */
	__be32 vip;   /* the option: enum pr_geneve_opt_type and the frontend vip:port/proto */
	__be16 port;
	__u8 type;
	__u8 proto;
};

/* Encapsulates the packet as `req` says, then sends it on its way. Returns a TC verdict. */
static __noinline int pr_encap4(struct __sk_buff *skb, const struct pr_tunnel_cfg *cfg, const struct pr_encap_req *req)
{
	struct pr_encap4 h = {};
	__u32 inner_len = skb->len - sizeof(struct ethhdr);
	__u32 hash = bpf_get_hash_recalc(skb);
	__u64 flags = BPF_F_ADJ_ROOM_ENCAP_L3_IPV4 | BPF_F_ADJ_ROOM_ENCAP_L4_UDP | BPF_F_ADJ_ROOM_ENCAP_L2_ETH |
		      BPF_F_ADJ_ROOM_ENCAP_L2(sizeof(struct ethhdr));
	int ret;

	if (bpf_skb_load_bytes(skb, 0, &h.inner_eth, sizeof(h.inner_eth)) < 0)
		goto fail;
	if (bpf_skb_adjust_room(skb, PR_ENCAP4_LEN, BPF_ADJ_ROOM_MAC, flags) < 0)
		goto fail;

	h.ip.version = 4;
	h.ip.ihl = 5;
	h.ip.tot_len = bpf_htons(PR_ENCAP4_LEN + inner_len);
	h.ip.frag_off = bpf_htons(PR_IP_DF);
	h.ip.ttl = PR_TUNNEL_TTL;
	h.ip.protocol = IPPROTO_UDP;
	h.ip.saddr = cfg->node_addr;
	h.ip.daddr = req->peer;
	h.ip.check = pr_csum_bytes(&h.ip, sizeof(h.ip), 0);
	h.udp.source = bpf_htons(49152 | (hash & 0x3fff));
	h.udp.dest = cfg->port;
	h.udp.len = bpf_htons(PR_ENCAP4_LEN - sizeof(struct iphdr) + inner_len);
	h.geneve.ver_optlen = PR_GENEVE_OPT_WORDS;
	h.geneve.proto = bpf_htons(PR_GENEVE_PROTO_TEB);
	h.geneve.vni[0] = cfg->vni >> 16;
	h.geneve.vni[1] = cfg->vni >> 8;
	h.geneve.vni[2] = cfg->vni;
	h.opt.opt_class = bpf_htons(PR_GENEVE_OPT_CLASS);
	h.opt.type = req->type;
	h.opt.length = 2;
	h.opt.vip = req->vip;
	h.opt.port = req->port;
	h.opt.proto = req->proto;
	h.inner_eth.h_proto = bpf_htons(ETH_P_IP);
	/* the room is zeroes; RECOMPUTE keeps a CHECKSUM_COMPLETE skb->csum true to the new bytes */
	if (bpf_skb_store_bytes(skb, sizeof(struct ethhdr), &h, sizeof(h), BPF_F_RECOMPUTE_CSUM) < 0)
		goto fail;
	ret = pr_route_out(skb);
	if (ret < 0)
		goto fail;
	pr_count(PR_CNT_TUNNEL_ENCAP);
	return ret;
fail:
	pr_count(PR_CNT_DROP_TUNNEL_FAILED);
	return TC_ACT_SHOT;
}

/* Whether a parsed packet is Geneve to this node's tunnel port (checked on host interfaces only). */
PR_INLINE int pr_is_tunnel_packet(const struct pr_pkt *p, const struct pr_tunnel_cfg *cfg)
{
	return cfg->node_addr && p->proto == IPPROTO_UDP && p->dport == cfg->port && p->daddr == cfg->node_addr;
}

enum pr_decap_result {
	PR_DECAP_OK = 0,
	PR_DECAP_NOT_OURS = 1, /* not Geneve as we send it (another VNI, version, protocol or option): left alone */
	PR_DECAP_FAILED = 2,
};

/*
 * Takes the outer headers off a Geneve packet from another node, leaving the outer Ethernet header before the
 * inner IPv4 packet. *opt receives our option.
 */
PR_INLINE int pr_decap4(struct __sk_buff *skb, const struct pr_pkt *p, const struct pr_tunnel_cfg *cfg,
			struct pr_geneve_opt4 *opt)
{
	struct {
		struct pr_geneve_hdr geneve;
		struct pr_geneve_opt4 opt;
		struct ethhdr inner_eth;
	} __attribute__((packed)) h;
	__u64 flags = 0;
	__s32 outer_len;

	if (p->l4_off > PR_L4_OFF_MAX)
		return PR_DECAP_FAILED;
	if (bpf_skb_load_bytes(skb, p->l4_off + sizeof(struct udphdr), &h, sizeof(h)) < 0)
		return PR_DECAP_NOT_OURS;
	if (h.geneve.ver_optlen != PR_GENEVE_OPT_WORDS || h.geneve.proto != bpf_htons(PR_GENEVE_PROTO_TEB) ||
	    h.geneve.vni[0] != (__u8)(cfg->vni >> 16) || h.geneve.vni[1] != (__u8)(cfg->vni >> 8) ||
	    h.geneve.vni[2] != (__u8)cfg->vni || h.opt.opt_class != bpf_htons(PR_GENEVE_OPT_CLASS) ||
	    h.opt.length != 2 || h.inner_eth.h_proto != bpf_htons(ETH_P_IP))
		return PR_DECAP_NOT_OURS;
	*opt = h.opt;
	outer_len = p->ihl_len + sizeof(struct udphdr) + sizeof(h);
#if !PR_COMPAT
	flags = BPF_F_ADJ_ROOM_DECAP_L3_IPV4;
#endif
	if (bpf_skb_adjust_room(skb, -outer_len, BPF_ADJ_ROOM_MAC, flags) < 0)
		return PR_DECAP_FAILED;
	return PR_DECAP_OK;
}

#endif /* PR_TUNNEL_H */
