#!/usr/bin/env python3
"""fake_api.py COUNT PORT CERT KEY: a minimal HTTPS Kubernetes API for cold-start timing (cold_start.py): one page each of
COUNT Services, COUNT EndpointSlices of 4 ready endpoints and one Node named bench; a watch is answered and then stays
silent; any other list is empty. Not the tests' fake server (no pagination, no tokens checked, no faults)."""
import json, ssl, sys, threading, time
from http.server import ThreadingHTTPServer, BaseHTTPRequestHandler
n, port, cert, key = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
def ip(v): return f"{v>>24&255}.{v>>16&255}.{v>>8&255}.{v&255}"
svcs = [{"metadata": {"name": f"svc-{i}", "namespace": "bench", "resourceVersion": "1", "uid": f"s{i}"},
         "spec": {"type": "ClusterIP", "clusterIP": ip(0x0A600000+i+1), "clusterIPs": [ip(0x0A600000+i+1)],
                  "ports": [{"name": "http", "protocol": "TCP", "port": 80, "targetPort": 8080}]}} for i in range(n)]
slices = [{"metadata": {"name": f"svc-{i}-slice", "namespace": "bench", "resourceVersion": "1", "uid": f"e{i}",
                        "labels": {"kubernetes.io/service-name": f"svc-{i}"}}, "addressType": "IPv4",
           "endpoints": [{"addresses": [ip(0x0A800000+i*16+j+1)], "conditions": {"ready": True}} for j in range(4)],
           "ports": [{"name": "http", "protocol": "TCP", "port": 8080}]} for i in range(n)]
nodes = [{"metadata": {"name": "bench", "resourceVersion": "1", "uid": "n1"}, "status": {"addresses": [{"type": "InternalIP", "address": "192.168.0.1"}]}}]
bodies = {"/api/v1/services": json.dumps({"kind": "ServiceList", "apiVersion": "v1", "metadata": {"resourceVersion": "1"}, "items": svcs}).encode(),
          "/apis/discovery.k8s.io/v1/endpointslices": json.dumps({"kind": "EndpointSliceList", "apiVersion": "discovery.k8s.io/v1", "metadata": {"resourceVersion": "1"}, "items": slices}).encode(),
          "/api/v1/nodes": json.dumps({"kind": "NodeList", "apiVersion": "v1", "metadata": {"resourceVersion": "1"}, "items": nodes}).encode()}
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def do_GET(self):
        path, _, query = self.path.partition("?")
        if "watch=true" in query:
            self.send_response(200); self.send_header("Content-Type", "application/json"); self.send_header("Transfer-Encoding", "chunked"); self.end_headers()
            self.wfile.flush()
            try:
                while True: time.sleep(1)
            except Exception: return
        body = bodies.get(path, json.dumps({"kind": "List", "metadata": {"resourceVersion": "1"}, "items": []}).encode())
        self.send_response(200); self.send_header("Content-Type", "application/json"); self.send_header("Content-Length", str(len(body))); self.end_headers()
        self.wfile.write(body)
s = ThreadingHTTPServer(("127.0.0.1", port), H); s.daemon_threads = True
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER); ctx.load_cert_chain(cert, key)
s.socket = ctx.wrap_socket(s.socket, server_side=True)
print("ready", flush=True); s.serve_forever()
