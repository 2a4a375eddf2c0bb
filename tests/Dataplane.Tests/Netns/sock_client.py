#!/usr/bin/env python3
"""Socket client for the socket-LB tests: one call, one JSON line on stdout, exit 0 (errors are
reported in the JSON). Run inside a test cgroup and network namespace by CgroupClient.

  sock_client.py tcp HOST PORT TEXT             connect, send TEXT\\n, read a line back
  sock_client.py udp HOST PORT TEXT             unconnected sendto, recvfrom (shows the sender)
  sock_client.py udp-connected HOST PORT TEXT   connect, send, recvfrom, getpeername
  sock_client.py connect HOST PORT              TCP connect only: timing and the error, if any
  sock_client.py hold PROTO HOST PORT TEXT WAIT  PROTO tcp or udp (connected): connect, exchange TEXT (line 1);
                                                then block in recv() up to WAIT s and say how it ended (line 2: an
                                                error such as ECONNABORTED when the socket was destroyed, else
                                                "held", and an exchange on the same socket); then a new
                                                connection's exchange (line 3). One JSON line each, flushed.
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


def hold_socket(proto, host, port):
    kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
    sock = socket.socket(socket.AF_INET, kind)
    sock.settimeout(TIMEOUT_S)
    sock.connect((host, port))
    return sock


def exchange(sock, proto, text):
    if proto == "tcp":
        sock.sendall((text + "\n").encode())
        return read_line(sock)
    sock.send(text.encode())
    return sock.recv(65535).decode()


def emit(result, started):
    result["seconds"] = round(time.monotonic() - started, 3)
    print(json.dumps(result), flush=True)


def failure(error):
    code = error.errno if error.errno is not None else (errno.ETIMEDOUT if isinstance(error, socket.timeout) else 0)
    return {"error": errno.errorcode.get(code, str(error)), "errno": code}


def hold(proto, host, port, text, wait):
    started = time.monotonic()
    try:
        sock = hold_socket(proto, host, port)
        result = {"reply": exchange(sock, proto, text), "peer": endpoint(sock.getpeername()), "local": endpoint(sock.getsockname())}
    except OSError as error:
        emit(failure(error), started)
        return
    emit(result, started)

    started = time.monotonic()
    sock.settimeout(float(wait))
    try:
        data = sock.recv(65535)
        result = {"error": "EOF"} if not data else {"unexpected": data.decode()}
    except socket.timeout:
        result = {"held": True}
        sock.settimeout(TIMEOUT_S)
        try:
            result["then_reply"] = exchange(sock, proto, text + " again")
        except OSError as error:
            result["then"] = failure(error)
    except OSError as error:
        result = failure(error)
    emit(result, started)
    sock.close()

    started = time.monotonic()
    try:
        with hold_socket(proto, host, port) as fresh:
            result = {"reply": exchange(fresh, proto, text + " anew"), "peer": endpoint(fresh.getpeername()),
                      "local": endpoint(fresh.getsockname())}
    except OSError as error:
        result = failure(error)
    emit(result, started)


def main(argv):
    if argv[1] == "hold":
        hold(argv[2], argv[3], int(argv[4]), argv[5], argv[6])
        return 0
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
