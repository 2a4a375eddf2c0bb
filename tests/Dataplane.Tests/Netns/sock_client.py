#!/usr/bin/env python3
"""Socket client for the socket-LB tests: one call, one JSON line on stdout, exit 0 (errors are
reported in the JSON). Run inside a test cgroup and network namespace by CgroupClient.

  sock_client.py tcp HOST PORT TEXT             connect, send TEXT\\n, read a line back
  sock_client.py udp HOST PORT TEXT             unconnected sendto, recvfrom (shows the sender)
  sock_client.py udp-connected HOST PORT TEXT   connect, send, recvfrom, getpeername
  sock_client.py connect HOST PORT              TCP connect only: timing and the error, if any
"""
import errno
import json
import socket
import sys
import time

TIMEOUT_S = 5.0


def endpoint(address):
    return [address[0], address[1]]


def read_line(sock):
    data = b""
    while not data.endswith(b"\n"):
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return data.decode().rstrip("\n")


def tcp(host, port, text):
    with socket.create_connection((host, port), timeout=TIMEOUT_S) as sock:
        peer, local = sock.getpeername(), sock.getsockname()
        sock.sendall((text + "\n").encode())
        return {"reply": read_line(sock), "peer": endpoint(peer), "local": endpoint(local)}


def udp(host, port, text):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(TIMEOUT_S)
        sock.sendto(text.encode(), (host, port))
        data, sender = sock.recvfrom(65535)
        return {"reply": data.decode(), "from": endpoint(sender), "local": endpoint(sock.getsockname())}


def udp_connected(host, port, text):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(TIMEOUT_S)
        sock.connect((host, port))
        sock.send(text.encode())
        data, sender = sock.recvfrom(65535)
        return {"reply": data.decode(), "from": endpoint(sender), "peer": endpoint(sock.getpeername()),
                "local": endpoint(sock.getsockname())}


def connect(host, port):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(TIMEOUT_S)
        sock.connect((host, port))
        return {"peer": endpoint(sock.getpeername())}


def main(argv):
    command, host, port = argv[1], argv[2], int(argv[3])
    rest = argv[4:]
    handlers = {"tcp": tcp, "udp": udp, "udp-connected": udp_connected, "connect": connect}
    started = time.monotonic()
    try:
        result = handlers[command](host, port, *rest)
    except OSError as error:
        code = error.errno if error.errno is not None else (errno.ETIMEDOUT if isinstance(error, socket.timeout) else 0)
        result = {"error": errno.errorcode.get(code, str(error)), "errno": code}
    result["seconds"] = round(time.monotonic() - started, 3)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
