/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * pr_map_abi.h — the map ABI: every key and value that the control plane and the
 * dataplane exchange, plus the enums stored in them. This header is the contract.
 *
 * Rules:
 *  - Every field is tagged with its byte order: NBO (network, big endian) or HBO (host).
 *  - Padding is explicit and must be written as zero (hash keys compare all bytes).
 *  - Each struct is mirrored by one C# struct in src/Dataplane/Abi/; a test compares the
 *    C# sizes and offsets with the BTF of the compiled object.
 *  - IPv4 maps carry a "4" suffix. IPv6 gets sibling maps ("6") with 16-byte addresses;
 *    family-independent structs (frontend value, backend key, config) are shared.
 *  - Any change to a layout bumps PR_ABI_VERSION: a daemon refuses to adopt pinned maps
 *    written under another version (see src/Dataplane/README.md).
 */
#ifndef PR_MAP_ABI_H
#define PR_MAP_ABI_H

#include <linux/types.h>

/* 2: frontend kinds and the node-local backend set, conntrack room for the multi-node modes,
 *    LoadBalancer source ranges, the hairpin address, 64 counters.
 * 3: many nodes: the routes map (pod CIDR -> owning node), the external service modes (SNAT, tunnel,
 *    DSR; pr_config fields, frontend mode flags, conntrack flags and the tunnel-return entry type),
 *    the Geneve option; connected sockets' reverse translation in socket storage (pr_sk_store4).
 * 4: NetworkPolicy: the endpoint map, the port-class and peer LPM tries, the policy conntrack (pr_pol_*),
 *    the policy counters.
 * 5: the ClusterIP fast path: pr_nat_direct4 (a new map) and pr_config.direct_mask4 (was zero padding). Pins of
 *    ABI 4 are adopted and re-stamped: no existing layout changed, the new map is derived state the Syncer fills. */
#define PR_ABI_VERSION 5

/* ---- NAT frontend: Service VIP:port/protocol -> service -------------------------------- */

struct pr_nat_fe_key4 {
	__be32 vip;   /* NBO: the address a client asks for: ClusterIP, a node address (NodePort),
	               *      a LoadBalancer ingress IP or an external IP (see enum pr_fe_kind) */
	__be16 port;  /* NBO: Service port */
	__u8 proto;   /* IPPROTO_TCP / IPPROTO_UDP */
	__u8 pad;     /* zero */
};

/* The frontend asks for ClientIP session affinity. */
#define PR_FE_F_AFFINITY (1u << 0)
/* LoadBalancer source ranges: a source without an entry for svc_id in pr_lb_src4 is dropped. */
#define PR_FE_F_SOURCE_RANGES (1u << 1)
/* externalTrafficPolicy: Local: traffic from outside the node (host-interface program) uses the local set. */
#define PR_FE_F_EXT_LOCAL (1u << 2)
/* internalTrafficPolicy: Local: traffic from this node's pods and host uses the local set. */
#define PR_FE_F_INT_LOCAL (1u << 3)
/*
 * The external service mode of this frontend (the per-Service annotation), for traffic from outside the node
 * whose backend is on another node; none set: pr_config.ext_mode. At most one is set.
 */
#define PR_FE_F_MODE_SNAT (1u << 4)
#define PR_FE_F_MODE_TUNNEL (1u << 5)
#define PR_FE_F_MODE_DSR (1u << 6)
#define PR_FE_F_MODE_MASK (PR_FE_F_MODE_SNAT | PR_FE_F_MODE_TUNNEL | PR_FE_F_MODE_DSR)

/* Which entry point a frontend is; the dataplane treats every kind alike, `dump` and `explain` show it. */
enum pr_fe_kind {
	PR_FE_CLUSTER_IP = 0,
	PR_FE_NODE_PORT = 1,     /* vip = one of this node's addresses, port = the nodePort */
	PR_FE_LOAD_BALANCER = 2, /* vip = a status.loadBalancer.ingress IP (ipMode VIP) */
	PR_FE_EXTERNAL_IP = 3,   /* vip = one of spec.externalIPs */
};

/*
 * Backends of a frontend: the cluster set at ordinals [0, backend_count), the node-local set (traffic
 * policy Local) at ordinals PR_LOCAL_ORDINAL_BASE + [0, local_count). Two ranges of one id, so that
 * each set keeps stable ordinals of its own and a backend can be in both.
 */
#define PR_LOCAL_ORDINAL_BASE 0x80000000u

struct pr_nat_fe_value {
	__u32 svc_id;             /* HBO: stable id (one per Service port), the key prefix of the backend map */
	__u32 backend_count;      /* HBO: cluster set at ordinals [0, count); 0 = reject */
	__u32 flags;              /* HBO: PR_FE_F_* */
	__u32 affinity_timeout_s; /* HBO: seconds, with PR_FE_F_AFFINITY */
	__u32 local_count;        /* HBO: local set at PR_LOCAL_ORDINAL_BASE + [0, local_count); used with *_LOCAL flags */
	__u8 kind;                /* HBO: enum pr_fe_kind */
	__u8 pad[3];              /* zero */
};

/* ---- NAT backend: (service id, ordinal) -> backend address --------------------------- */

struct pr_nat_be_key {
	__u32 svc_id;  /* HBO */
	__u32 ordinal; /* HBO: 0 .. backend_count-1 */
};

struct pr_nat_be_value4 {
	__be32 addr;  /* NBO: backend (pod) IP */
	__be16 port;  /* NBO: backend (target) port */
	__u8 flags;   /* HBO: reserved, zero */
	__u8 pad;     /* zero */
};

/* ---- The ClusterIP fast path: frontend and backends in one cache line ----------------- */

/*
 * pr_nat_direct4: an ARRAY indexed by the low bits of a ClusterIP (ntohl(vip) & pr_config.direct_mask4), each entry
 * one 64-byte line holding what a new flow to that VIP:port needs: the service id and the cluster set's backends. A
 * copy of what pr_nat_fe4 and pr_nat_be4 hold, which stay complete: a packet whose entry does not match (another VIP
 * or port in the slot, a torn read, an empty slot) takes the hash lookups. One cold line instead of two hash lookups
 * (about 1,400 ns at 100k Services in this VM, BENCHMARKS.md "new-flow cost by step").
 *
 * Written by the control plane only for a ClusterIP frontend with no affinity, no source ranges and no internal
 * traffic policy Local, and 1..PR_DIRECT_BACKENDS backends; one frontend per slot (the others of a VIP, and VIPs whose
 * low bits collide, stay on the hash path). An ARRAY update copies the value in place, so a packet may read half of
 * an old entry and half of a new one: `check` (pr_direct_check4: FNV-1a over the other 15 words, in memory order)
 * catches that, and the reader falls back. An empty slot is all zero, which the check refuses (and no VIP is 0).
 */
#define PR_DIRECT_BACKENDS 6

struct pr_nat_direct4 {
	__u32 check;          /* HBO: pr_direct_check4() of words 1..15 */
	__be32 vip;           /* NBO: the ClusterIP */
	__be16 port;          /* NBO: the Service port */
	__u8 proto;           /* IPPROTO_TCP / UDP / SCTP */
	__u8 backend_count;   /* HBO: 1..PR_DIRECT_BACKENDS: the frontend's cluster set, as its backend_count */
	__u32 svc_id;         /* HBO: the frontend's service id (pr_nat_fe4's) */
	struct pr_nat_be_value4 be[PR_DIRECT_BACKENDS]; /* ordinals 0..backend_count-1 of pr_nat_be4; zero beyond */
};

/* FNV-1a (32-bit) over the entry's words 1..15, each read as a host-order __u32 from memory. */
#define PR_DIRECT_CHECK_BASIS 2166136261u
#define PR_DIRECT_CHECK_PRIME 16777619u

/* ---- Session affinity (LRU): (frontend, client) -> chosen backend --------------------- */

struct pr_aff_key4 {
	struct pr_nat_fe_key4 fe; /* the frontend the client connected to */
	__be32 client;            /* NBO: client IP, or PR_AFF_CLIENT_HOST */
};

/*
 * The client identity of every socket in the host network namespace (host-network pods, the
 * kubelet, node agents): 0.0.0.0, "this host" (RFC 1122 3.2.1.3). kube-proxy sees all of them as
 * the node's address, so one identity for the host netns is one client, as Kubernetes means it.
 * It can never be a pod's address: no interface has it, and the TC path never keys affinity by a
 * 0.0.0.0 source (such a packet is dropped, PR_CNT_DROP_AFFINITY_NO_CLIENT; the kernel would drop
 * it as a martian anyway), so a pod cannot forge its way into the host's entries. The node IP would
 * read better in dumps, but the dataplane does not know it (a node has several, and which one
 * routing picks depends on the destination); 0.0.0.0 needs no configuration and cannot go stale.
 */
#define PR_AFF_CLIENT_HOST 0

struct pr_aff_value4 {
	__u64 last_used_ns;   /* HBO: bpf_ktime_get_ns() (CLOCK_MONOTONIC) of the last use */
	__u32 ordinal;        /* HBO: backend ordinal chosen */
	__be32 backend_addr;  /* NBO: the backend at that ordinal when chosen; a mismatch */
	__be16 backend_port;  /* NBO:   means the backend set moved and the entry is stale */
	__u16 pad;            /* zero */
	__u32 pad2;           /* zero */
};

/* ---- Conntrack (LRU): 5-tuple -> NAT state ------------------------------------------------
 * A NATed flow client:cport -> vip:vport, sent to backend:bport, has two entries:
 *   forward  {client, vip, cport, vport}     nat = backend:bport   (owns the flow state)
 *   reverse  {backend, client, bport, cport} nat = vip:vport       (replies are SNATed to it)
 * Either key is derivable from the other entry's key and nat fields.
 */
struct pr_ct_key4 {
	__be32 src;   /* NBO */
	__be32 dst;   /* NBO */
	__be16 sport; /* NBO */
	__be16 dport; /* NBO */
	__u8 proto;   /* IPPROTO_* */
	__u8 pad[3];  /* zero */
};

enum pr_ct_type {
	PR_CT_FORWARD = 1,
	PR_CT_REVERSE = 2,
	/*
	 * On the backend's node, a flow another node tunnelled here (tunnel mode), keyed like a reverse entry
	 * (backend, client, bport, cport): its replies are encapsulated back to tunnel_addr, the ingress node,
	 * which reverse-NATs them. No NAT here (nat_addr:nat_port = the backend, for dumps). Written by the
	 * decapsulating path on every due refresh, so it follows the flow while the flow lives.
	 */
	PR_CT_TUNNEL_RETURN = 3,
};

enum pr_ct_tcp_state {
	PR_TCP_NONE = 0,        /* not TCP */
	PR_TCP_SYN_SENT = 1,    /* client SYN seen, no reply yet */
	PR_TCP_ESTABLISHED = 2, /* reply seen */
	PR_TCP_CLOSING = 3,     /* FIN seen in one direction */
	PR_TCP_CLOSED = 4,      /* FIN seen in both directions, or RST */
};

/* fin_seen bits */
#define PR_CT_FIN_FROM_CLIENT (1u << 0)
#define PR_CT_FIN_FROM_BACKEND (1u << 1)

/* ct flags */
#define PR_CT_F_AFFINITY (1u << 0) /* backend came from the affinity map */
/*
 * Hairpin: the client is its own backend. Forward packets also get the source pr_config.hairpin_addr
 * (an address the pod does not own, so its answer leaves the pod), and the reverse entry is keyed
 * {backend, hairpin_addr, bport, cport}: its replies get the destination back (the backend's own
 * address, the reply's source). Both directions go straight back out of the interface they came in on.
 */
#define PR_CT_F_HAIRPIN (1u << 1)
/*
 * The flow's VIP is one of this node's own addresses (a NodePort). Its replies, reverse-NATed to that
 * address, would be dropped by the kernel's routing as "martian" (a forwarded packet may not come from a
 * local address), so they are routed by the program itself (FIB lookup) and sent out with
 * bpf_redirect_neigh.
 */
#define PR_CT_F_LOCAL_VIP (1u << 2)
/*
 * External service modes, for a flow from outside the node whose backend is on another node (pr_routes4):
 *  SNAT:   forward packets also get the source peer_addr:peer_port (this node, a port of pr_config's SNAT
 *          range) and are routed to the backend; the reverse entry is keyed {backend, peer_addr, bport,
 *          peer_port}, its peer_addr:peer_port is the client, the destination its replies get back.
 *  TUNNEL: forward packets are DNATed and encapsulated (Geneve) to tunnel_addr, the backend's node; the
 *          replies come back through the tunnel and are reverse-NATed here (the reverse entry as usual).
 *  DSR:    as TUNNEL, with a Geneve option naming the frontend; the backend's node answers the client
 *          itself. On the backend's node the flow's reverse entry carries PR_CT_F_DSR too (nat = the
 *          frontend, tunnel_addr = the ingress node): replies are SNATed to the frontend and routed directly.
 */
#define PR_CT_F_SNAT (1u << 3)
#define PR_CT_F_TUNNEL (1u << 4)
#define PR_CT_F_DSR (1u << 5)

struct pr_ct_value4 {
	__u64 created_ns;   /* HBO: bpf_ktime_get_ns() at creation */
	__u64 last_seen_ns; /* HBO: bpf_ktime_get_ns() of the last packet on this entry */
	__u8 type;          /* HBO: enum pr_ct_type */
	__u8 tcp_state;     /* HBO: enum pr_ct_tcp_state; authoritative in the forward entry */
	__u8 fin_seen;      /* HBO: PR_CT_FIN_* */
	__u8 flags;         /* HBO: PR_CT_F_* */
	__u32 svc_id;       /* HBO: service the flow was balanced for */
	__be32 nat_addr;    /* NBO: forward: backend IP; reverse: VIP */
	__be16 nat_port;    /* NBO: forward: backend port; reverse: Service port */
	__u16 pad;          /* zero */
	/* the multi-node modes (PR_CT_F_SNAT, _TUNNEL, _DSR, PR_CT_TUNNEL_RETURN); zero otherwise */
	__be32 peer_addr;   /* NBO: SNAT forward: the source a packet is given; SNAT reverse: its destination (the client) */
	__be16 peer_port;   /* NBO: the port that goes with peer_addr */
	__u16 pad2;         /* zero */
	__be32 tunnel_addr; /* NBO: the node a flow is tunnelled to or came from (0: none) */
	__u32 pad3;         /* zero */
};

/* ---- Service address ranges (LPM trie) ------------------------------------------------
 * The cluster's Service CIDRs. TCP/UDP to an address inside them that no frontend claims
 * (a deleted Service, a wrong port) is rejected at once instead of being routed onwards
 * to hang: a client sees "connection refused", as for a Service without backends.
 */
struct pr_svc_cidr_key4 {
	__u32 prefixlen; /* HBO: LPM prefix length in bits, 0..32 */
	__be32 addr;     /* NBO: network address */
};

struct pr_svc_cidr_value {
	__u32 flags; /* HBO: reserved, zero */
};

/* ---- LoadBalancer source ranges (LPM trie): (service id, source prefix) -> allowed --------
 * For a frontend with PR_FE_F_SOURCE_RANGES, a client is allowed when a lookup with prefixlen
 * 32 + 32 finds an entry: the service id always matches in full (prefixlen >= 32), the address
 * by its prefix. The IPv6 sibling takes a 16-byte address.
 */
struct pr_lb_src_key4 {
	__u32 prefixlen; /* HBO: 32 (the id) + the source prefix length, 32..64 */
	__u32 svc_id;    /* HBO: compared in full */
	__be32 addr;     /* NBO: source network */
};

struct pr_lb_src_value {
	__u32 flags; /* HBO: reserved, zero */
};

/* ---- Routes (LPM trie): pod CIDR or node address -> the node that owns it -----------------
 * Written by the routing module from the cluster's Node objects: every Node's spec.podCIDRs and its
 * InternalIP (/32, PR_ROUTE_F_NODE: also the peers a tunnelled packet may come from). The NAT programs look
 * a chosen backend up here to learn whether it lives on this node and, if not, which node to send to. An
 * address without an entry is treated as local (routed by the kernel, as on a single node). The IPv6
 * sibling pr_routes6 takes a 16-byte address and shares the value.
 */
struct pr_route_key4 {
	__u32 prefixlen; /* HBO: 0..32 */
	__be32 addr;     /* NBO: network address */
};

#define PR_ROUTE_F_LOCAL (1u << 0)  /* owned by this node */
#define PR_ROUTE_F_REMOTE (1u << 1) /* owned by another node: node_addr4 */
#define PR_ROUTE_F_NODE (1u << 2)   /* the entry is a node's own address (/32), not a pod CIDR */

struct pr_route_value {
	__u32 flags;          /* HBO: PR_ROUTE_F_* */
	__be32 node_addr4;    /* NBO: the owning node's IPv4 InternalIP (the tunnel endpoint); 0 for none */
	__u8 node_addr6[16];  /* reserved for an IPv6 underlay: zero */
};

/* ---- NetworkPolicy (the policy module) ----------------------------------------------------------
 * The compiler (src/ServiceProxy/Policy/) turns NetworkPolicies, Pods and Namespaces into one rule set
 * per (endpoint, direction); identical sets share an id. A packet's verdict costs two LPM lookups, whatever
 * the number of rules:
 *   1. pr_pol_ports4 {set, proto, port}        -> port class: which ports the set's rules treat alike
 *      (the compiler splits the port space at every rule's boundaries; ranges become prefix blocks);
 *   2. pr_pol_peers4 {set, port class, peer}   -> ALLOW or DENY for the longest matching peer prefix
 *      (a selected pod is a /32, an ipBlock its CIDR, an except a DENY unless another rule allows it).
 * A miss in either map denies. The set id of a direction is in the endpoint's pr_pol_ep4 entry; 0 is "not
 * isolated in that direction" (allow). A pod without an entry is isolated in neither direction and costs the
 * programs one hash lookup; a pod with an entry has its flows tracked (pr_pol_ct4) in both directions, also in a
 * direction whose set is 0, because the replies of its flows must pass the isolated direction's check. An entry
 * {0, 0} is valid: "tracked, not isolated" (flows it opens then survive its later isolation).
 * Ingress: the peer is the packet's source and the endpoint its destination; egress: the other way round,
 * after the Service translation (the peer is the chosen backend).
 */

struct pr_pol_ep_key4 {
	__be32 addr; /* NBO: the pod's IPv4 address (a pod of this node) */
};

struct pr_pol_ep {
	__u32 ingress_set; /* HBO: rule set for traffic to the pod; 0: not isolated for ingress */
	__u32 egress_set;  /* HBO: rule set for traffic from the pod; 0: not isolated for egress */
	__u32 flags;       /* HBO: reserved, zero */
	__u32 pad;         /* zero */
};

/* The protocol byte of pr_pol_port_key: TCP, UDP and SCTP as themselves; every other IP protocol is
 * PR_POL_PROTO_OTHER with port 0 (a rule without ports matches every protocol, ICMP included). */
#define PR_POL_PROTO_OTHER 255

struct pr_pol_port_key {
	__u32 prefixlen; /* HBO: bits matched after this field: 48 (the set's whole protocol) .. 64 (one port) */
	__u32 set;       /* HBO: rule set id (never 0) */
	__u8 proto;      /* IPPROTO_TCP / _UDP / _SCTP, or PR_POL_PROTO_OTHER */
	__u8 pad;        /* zero */
	__be16 port;     /* NBO: the destination port (of the endpoint for ingress, of the peer for egress) */
};

struct pr_pol_port_value {
	__u32 port_class; /* HBO: >= 1; the second lookup's class */
};

struct pr_pol_peer_key4 {
	__u32 prefixlen;  /* HBO: 64 + the peer prefix's length (64..96) */
	__u32 set;        /* HBO: rule set id */
	__u32 port_class; /* HBO: from pr_pol_ports4 */
	__be32 addr;      /* NBO: the peer prefix's network address */
};

enum pr_pol_verdict {
	PR_POL_ALLOW = 1,
	PR_POL_DENY = 2, /* an ipBlock's except that no other rule allows */
};

struct pr_pol_peer_value {
	__u32 verdict; /* HBO: enum pr_pol_verdict */
	__u32 rule;    /* HBO: the compiled rule that decided (0: none): dump and explain name it */
};

/*
 * Policy conntrack (LRU hash pr_pol_ct4): the flows an isolated endpoint of this node approved, so that their later
 * packets and their replies skip the check, and a policy change does not cut them. Written by the programs only.
 * A separate map rather than entries in pr_ct4 (bpf-c/README.md "Policy"):
 *  - pr_ct4 keys NAT flows by the client's tuple before the translation (client -> VIP); policy needs the flow as
 *    the endpoint sees it, after it (client -> backend), and in both directions with one lookup;
 *  - only flows of endpoints that have a pr_pol_ep4 entry are tracked here, so they never push NAT flows out of
 *    pr_ct4's LRU, and the NAT paths' many pr_ct4 lookups need no new entry type to skip.
 * NAT flows are not copied here: at the client's veth their packets hit pr_ct4 before any policy code, and a
 * reply reverse-NATed to VIP -> client is recognised at the client's veth by its pr_ct4 forward entry.
 *
 * The key holds the flow's two ends in a fixed order (end a: the lower (addr, port) compared as raw 32-bit and
 * 16-bit values, end b: the other), so either direction finds the entry with one lookup. Each end that is an
 * endpoint of this node approves the flow once (its egress check when it opened the flow, its ingress check when
 * the peer did, or no check when that direction is not isolated); the entry then carries its PR_POL_CT_F_*_OK bit,
 * and that end's packets of the flow, either way, pass. A TCP SYN without ACK is always checked again (a new
 * connection on an old tuple gets the current policy), and from the pod's side it restarts the entry.
 */
struct pr_pol_ct_key4 {
	__be32 addr_a; /* NBO: the lower end */
	__be32 addr_b; /* NBO */
	__be16 port_a; /* NBO: TCP/UDP/SCTP port of end a; 0 for other protocols */
	__be16 port_b; /* NBO */
	__u8 proto;    /* IPPROTO_* */
	__u8 pad[3];   /* zero */
};

#define PR_POL_CT_F_A_OK (1u << 0)        /* end a (an endpoint of this node) approved the flow */
#define PR_POL_CT_F_B_OK (1u << 1)        /* end b approved it */
#define PR_POL_CT_F_A_INITIATED (1u << 2) /* end a sent the flow's first packet seen here (dump, explain) */

struct pr_pol_ct_value4 {
	__u64 last_seen_ns; /* HBO: bpf_ktime_get_ns(), refreshed coarsely as pr_ct4's (PR_CT_REFRESH_NS) */
	__u32 flags;        /* HBO: PR_POL_CT_F_* */
	__u32 pad;          /* zero */
};

/* ---- The Geneve option -----------------------------------------------------------------------
 * A wire format between the daemons of one cluster (so versioned with this ABI). Every packet one node
 * encapsulates to another carries exactly one, after the 8-byte Geneve header (so the overhead is the same
 * in both modes, and the tunnel MTU one number): its type says what the receiver does with the inner packet.
 * Geneve (RFC 8926) option class 0xFFF0 is for experimental use; the types' critical bit is clear. The
 * header's length counts the 4-byte words after it (2).
 */
#define PR_GENEVE_OPT_CLASS 0xFFF0

enum pr_geneve_opt_type {
	PR_GENEVE_OPT_TUNNEL4 = 1, /* tunnel mode: deliver to the local backend, answer back through the tunnel */
	PR_GENEVE_OPT_DSR4 = 2,    /* dsr mode: deliver, and answer the client directly from vip:port */
	PR_GENEVE_OPT_REPLY4 = 3,  /* a backend's reply coming back to the ingress node (vip, port: zero) */
};

struct pr_geneve_opt4 {
	__be16 opt_class; /* NBO: PR_GENEVE_OPT_CLASS */
	__u8 type;        /* enum pr_geneve_opt_type */
	__u8 length;      /* 2: the reserved bits are the high three, zero */
	__be32 vip;       /* NBO: the frontend the client talked to */
	__be16 port;      /* NBO: its port */
	__u8 proto;       /* IPPROTO_* */
	__u8 pad;         /* zero */
};

/* ---- Service names (hash): service id -> namespace/name/port -----------------------------
 * Not read by any program: the daemon writes it so that `dump` and `explain` can name what an id
 * is from the pinned maps alone, without the daemon. NUL-terminated, zero-padded.
 */
struct pr_svc_name {
	char ns[64];   /* namespace (at most 63 characters) */
	char name[64]; /* Service name (at most 63) */
	char port[16]; /* port name (at most 15; "" for an unnamed port) */
	__u8 proto;    /* IPPROTO_* of the port */
	__u8 pad[7];   /* zero */
};

/* ---- Counters (per-CPU array): one slot per verdict reason ------------------------------ */

enum pr_counter {
	PR_CNT_PASS_NOT_IPV4 = 0,        /* ARP, IPv6 (until the v6 path), ...: untouched */
	PR_CNT_PASS_NO_SERVICE = 1,      /* IPv4, not to a Service and no conntrack entry */
	PR_CNT_PASS_FRAGMENT = 2,        /* non-first fragment: no ports, passed untouched */
	PR_CNT_NAT_NEW_FLOW = 3,         /* DNAT of the first packet of a flow */
	PR_CNT_NAT_ESTABLISHED = 4,      /* DNAT from a conntrack hit */
	PR_CNT_NAT_REVERSE = 5,          /* reply reverse-NATed to the VIP */
	PR_CNT_AFFINITY_HIT = 6,         /* new flow sent to its affinity backend */
	PR_CNT_ICMP_ERROR_TRANSLATED = 7,/* ICMP error about a NATed flow rewritten to the VIP */
	PR_CNT_REJECT_TCP_NO_BACKEND = 8,/* TCP to a Service without backends: RST sent */
	PR_CNT_REJECT_UDP_NO_BACKEND = 9,/* UDP to a Service without backends: ICMP sent */
	PR_CNT_REJECT_BACKEND_MISSING = 10, /* backend entry absent for an ordinal < count */
	PR_CNT_DROP_MALFORMED = 11,      /* truncated or invalid IPv4/L4 header */
	PR_CNT_DROP_REJECT_FAILED = 12,  /* a reject reply could not be built */
	PR_CNT_DROP_NAT_FAILED = 13,     /* a rewrite or checksum helper failed */
	PR_CNT_CT_CREATE_FAILED = 14,    /* conntrack insert failed; packet still NATed */
	PR_CNT_DROP_UNSUPPORTED = 15,    /* e.g. reject needed for a packet with IP options */
	PR_CNT_CT_EXPIRED = 16,          /* a conntrack entry had timed out: flow re-balanced */
	PR_CNT_REJECT_UNKNOWN_SERVICE = 17, /* TCP/UDP to a Service CIDR address no frontend claims */
	/* socket hooks (connect-time balancing): counted per call, not per packet */
	PR_CNT_SOCK_CONNECT = 18,        /* connect() to VIP:port rewritten to a backend */
	PR_CNT_SOCK_SENDMSG = 19,        /* unconnected UDP sendmsg() to VIP:port rewritten */
	PR_CNT_SOCK_RECVMSG_REVERSED = 20, /* recvmsg() source backend -> VIP:port */
	PR_CNT_SOCK_PEERNAME_REVERSED = 21, /* getpeername() backend -> VIP:port */
	PR_CNT_SOCK_PASS_NO_SERVICE = 22, /* connect()/sendmsg() not to a Service: untouched */
	PR_CNT_SOCK_PASS_AFFINITY = 23,  /* ClientIP-affinity frontend, socket without a source address: left to TC */
	PR_CNT_SOCK_REFUSE_NO_BACKEND = 24, /* Service without backends: ECONNREFUSED */
	PR_CNT_SOCK_REFUSE_UNKNOWN_SERVICE = 25, /* Service CIDR address no frontend claims: ECONNREFUSED */
	PR_CNT_SOCK_REFUSE_BACKEND_MISSING = 26, /* backend entry absent for an ordinal < count: ECONNREFUSED */
	PR_CNT_SOCK_AFFINITY_HIT = 27,   /* socket sent to its affinity backend */
	PR_CNT_SOCK_REV_UPDATE_FAILED = 28, /* pr_sk_rev4 insert failed: translated, but replies/peer show the backend */
	PR_CNT_SOCK_AFFINITY_HOST = 29,  /* host-netns socket to a ClientIP-affinity frontend: balanced at the socket as PR_AFF_CLIENT_HOST */
	PR_CNT_DROP_AFFINITY_NO_CLIENT = 30, /* TC: packet from 0.0.0.0 to a ClientIP-affinity frontend (no client to key) */
	PR_CNT_DROP_PULL_FAILED = 31,    /* headers outside the skb's linear part could not be pulled in (bpf_skb_pull_data failed) */
	PR_CNT_DROP_SOURCE_RANGE = 32,   /* to a LoadBalancer IP from outside its loadBalancerSourceRanges */
	PR_CNT_NAT_HAIRPIN = 33,         /* a new flow whose backend is its own client: source set to the hairpin address */
	PR_CNT_DROP_NO_LOCAL_BACKEND = 34, /* traffic policy Local and no local endpoint: dropped, not rejected */
	PR_CNT_PASS_NOT_NEW = 35,        /* host interface: TCP without SYN, no conntrack entry: not a new flow of ours */
	PR_CNT_SOCK_PASS_SOURCE_RANGE = 36, /* socket call to a source-range frontend: left to the TC path, which sees the source */
	/* many nodes (external traffic whose backend is on another node) */
	PR_CNT_NAT_SNAT = 37,            /* new external flow to a remote backend, SNATed to this node */
	PR_CNT_TUNNEL_ENCAP = 38,        /* packet encapsulated to another node (tunnel, DSR, tunnel return) */
	PR_CNT_TUNNEL_DECAP = 39,        /* packet decapsulated from another node */
	PR_CNT_DSR_REPLY = 40,           /* backend's node: a DSR reply SNATed to the frontend and sent to the client */
	PR_CNT_DROP_TUNNEL_PEER = 41,    /* a Geneve packet from an address that is no node (pr_routes4 PR_ROUTE_F_NODE) */
	PR_CNT_DROP_SNAT_PORTS = 42,     /* no free port in the SNAT range for a new flow */
	PR_CNT_DROP_TUNNEL_FAILED = 43,  /* encapsulation, decapsulation or the route to the peer failed */
	PR_CNT_TCP_MSS_CLAMPED = 44,     /* a SYN's MSS lowered to fit the tunnel */
	PR_CNT_DROP_TOO_BIG = 45,        /* a packet too big for the tunnel: ICMP fragmentation-needed sent */
	PR_CNT_DROP_TUNNEL_MISROUTED = 46, /* decapsulated, but the inner destination is no local pod and no flow of ours */
	PR_CNT_SOCK_STORE_FAILED = 47,   /* connect(): no socket storage for the translation; pr_sk_rev4 holds it instead */
	/* NetworkPolicy: new flows checked at a pod's veth (pr_tc_from_wl: egress, pr_tc_to_wl: ingress) */
	PR_CNT_DROP_POLICY_INGRESS_PORT = 48, /* to an ingress-isolated pod: no rule covers the protocol and port */
	PR_CNT_DROP_POLICY_INGRESS_PEER = 49, /* to an ingress-isolated pod: a rule covers the port, none the source */
	PR_CNT_DROP_POLICY_EGRESS_PORT = 50,  /* from an egress-isolated pod: no rule covers the protocol and port */
	PR_CNT_DROP_POLICY_EGRESS_PEER = 51,  /* from an egress-isolated pod: a rule covers the port, none the destination */
	PR_CNT_POLICY_INGRESS_ALLOWED = 52,   /* a new flow allowed by an ingress check */
	PR_CNT_POLICY_EGRESS_ALLOWED = 53,    /* a new flow allowed by an egress check */
	PR_CNT_REJECT_SCTP_SERVICE = 54,      /* SCTP to a Service's SCTP port: not translated, refused (ICMP port unreachable) */
	PR_CNT_NAT_DIRECT = 55,               /* a new flow (or connect) balanced from its pr_nat_direct4 slot, not the hash maps */
	PR_CNT_MAX = 64,                 /* array size; room to grow without an ABI bump */
};

/* ---- Socket reverse translation (LRU): (socket cookie, backend) -> VIP:port -------------
 * Written by connect4 (TCP, connected UDP) and sendmsg4 (unconnected UDP) when they send a
 * socket to a backend; read by recvmsg4 (UDP replies appear to come from the VIP) and
 * getpeername4 (the peer is the VIP). Socket cookies are never reused, so a closed socket's
 * entries are just left for the LRU to evict. The IPv6 sibling (pr_sk_rev6) keeps the cookie
 * and takes 16-byte addresses.
 */
struct pr_sk_rev_key4 {
	__u64 cookie;         /* HBO: bpf_get_socket_cookie() */
	__be32 backend_addr;  /* NBO: the address the socket was sent to */
	__be16 backend_port;  /* NBO */
	__u16 pad;            /* zero */
};

struct pr_sk_rev_value4 {
	__be32 vip;   /* NBO: the Service address the application asked for */
	__be16 port;  /* NBO: the Service port */
	__u16 pad;    /* zero */
};

/* ---- Socket reverse translation of connected sockets (socket storage) -------------------------
 * connect4 keeps a translated socket's backend and VIP:port in the socket itself (BPF_MAP_TYPE_SK_STORAGE):
 * the kernel frees it with the socket, so a closed connection leaves nothing behind and connect() inserts
 * into no LRU. recvmsg4 and getpeername4 read it first, then pr_sk_rev4, which keeps serving unconnected
 * UDP (sendmsg4: one socket, many backends). Not iterable from user space: `dump` cannot list it. The IPv6
 * sibling (pr_sk_store6) takes 16-byte addresses.
 */
struct pr_sk_store4 {
	__be32 backend_addr; /* NBO: the address the socket was sent to */
	__be16 backend_port; /* NBO */
	__u16 pad;           /* zero */
	__be32 vip;          /* NBO: the Service address the application asked for */
	__be16 port;         /* NBO: the Service port */
	__u16 pad2;          /* zero */
};

/* ---- Host network namespace (array of one) -----------------------------------------------
 * The cookie (bpf_get_netns_cookie, SO_NETNS_COOKIE) of the network namespace the daemon runs
 * in, written by the daemon at every start: the node's host netns in production. The socket hooks
 * treat a socket of that namespace as a host-network client (PR_AFF_CLIENT_HOST), because no TC
 * hook lies on its path. 0 (never written) means unknown: every socket is treated as a pod's.
 * Its own map rather than a pr_config field, so pr_config keeps its layout (no ABI bump).
 */
struct pr_host_netns {
	__u64 cookie; /* HBO: network namespace cookie; 0 = unknown (netns cookies start at 1) */
};

/* ---- Global configuration (array of one) ------------------------------------------------ */

/* Connect-time balancing, like Calico's: which sockets the cgroup hooks translate. Read per
 * call, so the daemon switches it at run time by writing pr_config. 0 (an unwritten config)
 * is disabled. Reverse translation (recvmsg, getpeername) of sockets already translated goes
 * on in every mode, so switching never strands a socket between the VIP and its backend. */
enum pr_sock_lb_mode {
	PR_SOCK_LB_DISABLED = 0, /* every socket left to the TC path */
	PR_SOCK_LB_TCP = 1,      /* TCP connect() translated; UDP left to the TC path */
	PR_SOCK_LB_ENABLED = 2,  /* TCP and UDP (connect and sendmsg) translated */
};

struct pr_config {
	__u32 abi_version;               /* HBO: PR_ABI_VERSION of the writer */
	__u32 flags;                     /* HBO: reserved, zero */
	__u32 tcp_syn_timeout_s;         /* HBO: SYN sent, no reply */
	__u32 tcp_established_timeout_s; /* HBO */
	__u32 tcp_closing_timeout_s;     /* HBO: after FIN both ways or RST */
	__u32 udp_timeout_s;             /* HBO */
	__u32 generic_timeout_s;         /* HBO: other protocols */
	__u32 sock_lb_mode;              /* HBO: enum pr_sock_lb_mode (was zero padding: same layout) */
	__be32 hairpin_addr;             /* NBO: source of hairpin flows (PR_CT_F_HAIRPIN); 0: PR_DEFAULT_HAIRPIN_ADDR */
	__u32 direct_mask4;              /* HBO: pr_nat_direct4's size - 1 (a power of two); 0: the table is off (ABI 5, was zero padding) */
	/* many nodes */
	__u32 ext_mode;                  /* HBO: enum pr_ext_mode, for frontends without a PR_FE_F_MODE_* flag */
	__be32 node_addr4;               /* NBO: this node's address: the SNAT source and the tunnel's outer source; 0: no remote backends served */
	__be16 tunnel_port;              /* NBO: Geneve UDP port (0: PR_DEFAULT_TUNNEL_PORT) */
	__u16 tunnel_mtu;                /* HBO: the largest inner IP packet the tunnel carries (0: PR_DEFAULT_TUNNEL_MTU) */
	__u32 tunnel_vni;                /* HBO: Geneve VNI, 24 bits */
	__u16 snat_port_min;             /* HBO: SNAT source ports (0, 0: PR_DEFAULT_SNAT_PORT_MIN..MAX) */
	__u16 snat_port_max;             /* HBO */
	__u32 pad2;                      /* zero */
	__u8 node_addr6[16];             /* reserved for the IPv6 path: zero */
};

/* The external service modes (Calico's bpfExternalServiceMode, with SNAT as a third). */
enum pr_ext_mode {
	PR_EXT_MODE_TUNNEL = 0, /* the default, also of an unwritten config */
	PR_EXT_MODE_SNAT = 1,
	PR_EXT_MODE_DSR = 2,
};

/* Geneve on 6082, not IANA's 6081, so that a CNI's own Geneve device (Cilium, OVN) keeps its port. */
#define PR_DEFAULT_TUNNEL_PORT 6082
/* 1500 (the usual underlay MTU) - 20 (outer IPv4) - 8 (UDP) - 8 (Geneve) - 12 (our option) - 14 (inner Ethernet) */
#define PR_DEFAULT_TUNNEL_MTU 1438
#define PR_DEFAULT_TUNNEL_VNI 0x5052
/* Calico's default (bpfPSNATPorts): clear of the kernel's ephemeral ports (32768-60999) and the nodePorts */
#define PR_DEFAULT_SNAT_PORT_MIN 20000
#define PR_DEFAULT_SNAT_PORT_MAX 29999

/* The hairpin source when pr_config holds none: 169.254.7.1 (link-local: no pod owns it, no route
 * leads anywhere with it; clear of 169.254.1.1, 169.254.169.254 and the node-local DNS addresses). */
#define PR_DEFAULT_HAIRPIN_ADDR_HBO 0xA9FE0701u

/* Defaults used when the config entry holds zero for a timeout. */
#define PR_DEFAULT_TCP_SYN_TIMEOUT_S 60
#define PR_DEFAULT_TCP_ESTABLISHED_TIMEOUT_S 21600
#define PR_DEFAULT_TCP_CLOSING_TIMEOUT_S 10
#define PR_DEFAULT_UDP_TIMEOUT_S 60
#define PR_DEFAULT_GENERIC_TIMEOUT_S 60

/*
 * How long a SNATed TCP flow closed by FINs both ways (PR_CT_F_SNAT, PR_TCP_CLOSED, fin_seen both bits) keeps its
 * entries, and so its port of the SNAT range (pr_snat_port takes only a port no entry holds), when
 * tcp_closing_timeout_s is shorter. Whichever end closed first keeps the tuple in TIME_WAIT; when it is the backend,
 * that tuple is {backend:port, this node:SNAT port}, held 60 s (Linux's TCP_TIMEWAIT_LEN, not tunable), and the
 * backend refuses about half the SYNs that reuse it sooner (PAWS: the client's timestamps, which its kernel derives
 * from its own tuple, are unrelated to the previous flow's). 70 s: the 60 s, plus the timer wheel's lateness at that
 * range (up to 5.1 s at HZ=100, 4.1 s at HZ=1000), plus last_seen lagging by up to PR_CT_REFRESH_NS (pr_conntrack.h).
 * The node cannot tell which end closed first, so every FIN-closed SNAT flow keeps it; a flow ended by RST leaves no
 * TIME_WAIT behind (an RST kills a TIME_WAIT socket too) and keeps the plain closing timeout. Its cost: a port is
 * busy for 70 s after its flow, so a node sustains at most (SNAT range) / 70 s new SNAT flows per backend address,
 * port and protocol (about 140 per second with the default range) before drop_snat_ports.
 */
#define PR_SNAT_TIME_WAIT_S 70

/* ---- Socket termination (sock_destroy.bpf.o): the doomed targets and what the iterators report ----
 * Not core maps: the sock_destroy object creates pr_sk_doomed4 itself (unpinned, filled for one run and emptied
 * again) and reads the core's pr_sk_store4. A socket is destroyed (bpf_sock_destroy, Linux 6.5+) when connect4
 * translated it (it has pr_sk_store4) through the frontend vip:port/proto to backend_addr:backend_port, that
 * target is in pr_sk_doomed4, and the socket is still connected to that backend. Added in ABI 3 (unreleased).
 */
struct pr_sk_doomed_key4 {
	__be32 vip;          /* NBO: the frontend the socket was connected through (pr_sk_store4.vip) */
	__be16 port;         /* NBO: its port */
	__u8 proto;          /* IPPROTO_TCP / IPPROTO_UDP */
	__u8 pad;            /* zero */
	__be32 backend_addr; /* NBO: the backend that left the Service */
	__be16 backend_port; /* NBO */
	__u16 pad2;          /* zero */
};

struct pr_sk_doomed_value {
	__u32 flags; /* HBO: reserved, zero */
};

/* pr_sk_destroyed4.result of a socket the compat build found but cannot destroy (no bpf_sock_destroy). */
#define PR_SK_DESTROY_UNSUPPORTED 1

/* One record per socket an iterator matched, written to the iterator's output (bpf_seq_write). */
struct pr_sk_destroyed4 {
	__be32 src;    /* NBO: the socket's local address */
	__be32 dst;    /* NBO: its peer, the backend */
	__be16 sport;  /* NBO */
	__be16 dport;  /* NBO */
	__be32 vip;    /* NBO: the frontend it was connected through */
	__be16 port;   /* NBO */
	__u8 proto;    /* IPPROTO_TCP / IPPROTO_UDP */
	__u8 pad;      /* zero */
	__s32 result;  /* HBO: 0 destroyed; < 0 bpf_sock_destroy's error; PR_SK_DESTROY_UNSUPPORTED (compat build) */
};

#endif /* PR_MAP_ABI_H */
