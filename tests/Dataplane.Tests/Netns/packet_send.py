#!/usr/bin/env python3
"""Sends one Ethernet frame out of an interface through an AF_PACKET socket with PACKET_VNET_HDR, for the
non-linear packet tests. With a virtio_net_hdr whose hdr_len is 0, packet_snd() puts only the link-layer
header (14 bytes) in the skb's linear part and the rest, IP header included, in page fragments, once the
frame is a page or more (smaller frames are copied linear whole). Run inside the sender's network namespace.

  packet_send.py IFACE HEXFRAME
"""
import socket
import sys

SOL_PACKET = 263
PACKET_VNET_HDR = 15
# struct virtio_net_hdr: flags, gso_type, hdr_len, gso_size, csum_start, csum_offset; all zero:
# no checksum offload (the frame carries its checksums), no GSO, no header length hint.
VIRTIO_NET_HDR = bytes(10)


def main(argv):
    iface, frame = argv[1], bytes.fromhex(argv[2])
    with socket.socket(socket.AF_PACKET, socket.SOCK_RAW) as sock:
        sock.setsockopt(SOL_PACKET, PACKET_VNET_HDR, 1)
        sock.bind((iface, 0))
        sent = sock.send(VIRTIO_NET_HDR + frame)
    print(sent - len(VIRTIO_NET_HDR))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
