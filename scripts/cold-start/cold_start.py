#!/usr/bin/env python3
"""Cold starts of the daemon, timed from outside and read from its Startup line (root: network namespaces, bpffs).

  cold_start.py --daemon bin/service-proxy [--baseline OTHER] --source manifest|api --services 1000 --runs 5

Each run gets a fresh network namespace and a private bpffs (nothing to adopt), starts the daemon with the benchmark
harness's arguments, and times the spawn to its 'Synced (...): N services' line; the daemon's CPU time (utime + stime)
is read at that moment, then it is stopped and everything it ran in removed. With --baseline the two builds alternate,
run by run, and the ratio is taken pair by pair. The manifests are those of the memory runs (N Services x 4 endpoints);
the API is fake_api.py (one page of lists, silent watches) behind a self-signed certificate made with openssl.
"""
import argparse, os, re, shutil, signal, statistics, subprocess, sys, tempfile, time

HERE = os.path.dirname(os.path.abspath(__file__))
STAGES = ["runtime", "main->daemon", "load", "list+parse", "wait", "first sync"]


def write_manifests(directory, count):
    """count Services (10.96.x, port 80 -> 8080) with one EndpointSlice of 4 ready endpoints each, 1,000 per file."""
    def ip(v): return f"{v >> 24 & 255}.{v >> 16 & 255}.{v >> 8 & 255}.{v & 255}"
    for first in range(0, count, 1000):
        docs = []
        for i in range(first, min(count, first + 1000)):
            endpoints = "\n".join(f"  - addresses: [\"{ip(0x0A800000 + i * 16 + j + 1)}\"]\n    conditions: {{ready: true}}" for j in range(4))
            docs.append(f"apiVersion: v1\nkind: Service\nmetadata: {{name: svc-{i}, namespace: bench}}\nspec:\n  type: ClusterIP\n"
                        f"  clusterIP: {ip(0x0A600000 + i + 1)}\n  ports: [{{name: http, protocol: TCP, port: 80, targetPort: 8080}}]\n---\n"
                        f"apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: svc-{i}-slice\n  namespace: bench\n"
                        f"  labels: {{kubernetes.io/service-name: svc-{i}}}\naddressType: IPv4\nendpoints:\n{endpoints}\n"
                        f"ports: [{{name: http, protocol: TCP, port: 8080}}]")
        with open(os.path.join(directory, f"svc-{first // 1000:04d}.yaml"), "w") as f:
            f.write("\n---\n".join(docs) + "\n")


def write_api_files(directory):
    """A self-signed certificate for 127.0.0.1 and a kubeconfig that trusts it; returns (cert, key, kubeconfig)."""
    cert, key, kubeconfig = (os.path.join(directory, name) for name in ("cert.pem", "key.pem", "kubeconfig"))
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    import base64
    ca = base64.b64encode(open(cert, "rb").read()).decode()
    with open(kubeconfig, "w") as f:
        f.write(f"apiVersion: v1\nkind: Config\ncurrent-context: bench\nclusters:\n- name: fake\n  cluster:\n"
                f"    server: https://127.0.0.1:6443\n    certificate-authority-data: {ca}\ncontexts:\n- name: bench\n"
                f"  context: {{cluster: fake, user: proxy}}\nusers:\n- name: proxy\n  user: {{token: bench-token}}\n")
    return cert, key, kubeconfig


def one_start(daemon, source_args, api, count, tag):
    """One cold start; returns (wall ms, cpu ms, startup line)."""
    ns, bpffs = f"prt-cold-{os.getpid()}-{tag}", tempfile.mkdtemp(prefix="prt-cold-bpffs-")
    server = process = None
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        subprocess.run(["ip", "-n", ns, "link", "set", "lo", "up"], check=True)
        subprocess.run(["mount", "-t", "bpf", "bpf", bpffs], check=True)
        if api:
            server = subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, os.path.join(HERE, "fake_api.py"), str(count), "6443", *api],
                                      stdout=subprocess.PIPE, text=True)
            server.stdout.readline()  # "ready"
        spawned = time.monotonic()
        process = subprocess.Popen(["ip", "netns", "exec", ns, daemon, "run", *source_args, "--bpffs-root", os.path.join(bpffs, "pr"),
                                    "--workload-interfaces", "prt-cold-none-*", "--hostname-override", "bench",
                                    "--healthz-bind-address", "127.0.0.1:10256", "--metrics-bind-address", "127.0.0.1:10249"],
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        wall = cpu = None
        deadline = time.monotonic() + 180
        for line in process.stdout:
            if wall is None and "Synced (" in line and f": {count} services" in line:
                wall = (time.monotonic() - spawned) * 1000
                fields = open(f"/proc/{process.pid}/stat").read().rsplit(")", 1)[1].split()
                cpu = (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")
            if "Startup: " in line:
                return wall, cpu, line.split("Startup: ", 1)[1].strip()
            if time.monotonic() > deadline:
                break
        raise RuntimeError(f"{daemon}: no Startup line (exit code {process.poll()})")
    finally:
        for child in (process, server):
            if child is not None and child.poll() is None:
                child.send_signal(signal.SIGINT if child is process else signal.SIGTERM)
                try:
                    child.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    child.kill()
                    child.wait()
        subprocess.run(["umount", bpffs], stderr=subprocess.DEVNULL)
        os.rmdir(bpffs)
        subprocess.run(["ip", "netns", "del", ns])


def stages(line):
    """The Startup line's stages (ms) and, when present, the runtime's costs."""
    n = [float(x) for x in re.findall(r"(\d+)(?= ms|-)", line.split("; CPU")[0])]
    total, runtime, daemon, load_a, load_b, list_a, list_b, sync_a, sync_b = n[:9]
    out = {"total": total, "runtime": runtime, "main->daemon": daemon - runtime, "load": load_b - load_a, "list+parse": list_b - list_a,
           "wait": sync_a - max(load_b, list_b), "first sync": sync_b - sync_a}
    if m := re.search(r"JIT (\d+) methods in (\d+) ms", line):
        out["JIT methods"], out["JIT ms"] = float(m[1]), float(m[2])
    if m := re.search(r"paused (\d+) ms, (\d+) MiB allocated", line):
        out["GC paused ms"], out["allocated MiB"] = float(m[1]), float(m[2])
    return out


def summary(name, rows):
    def med(values): return f"{statistics.median(values):.0f} ({min(values):.0f}-{max(values):.0f})"
    print(f"{name}: wall {med([r['wall'] for r in rows])} ms, CPU {med([r['cpu'] for r in rows])} ms")
    for key in [k for k in rows[0] if k not in ("wall", "cpu")]:
        print(f"  {key}: {med([r[key] for r in rows if key in r])}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--daemon", required=True)
    parser.add_argument("--baseline")
    parser.add_argument("--source", choices=["manifest", "api"], required=True)
    parser.add_argument("--services", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    builds = [("baseline", os.path.abspath(args.baseline))] if args.baseline else []
    builds.append(("daemon", os.path.abspath(args.daemon)))
    work = tempfile.mkdtemp(prefix="prt-cold-")
    try:
        api = None
        if args.source == "manifest":
            write_manifests(work, args.services)
            source_args = ["--manifest-dir", work]
        else:
            cert, key, kubeconfig = write_api_files(work)
            api, source_args = (cert, key), ["--kubeconfig", kubeconfig]
        results = {name: [] for name, _ in builds}
        for run in range(args.runs):
            for name, binary in builds:
                wall, cpu, line = one_start(binary, source_args, api, args.services, f"{run}{name[0]}")
                results[name].append({"wall": wall, "cpu": cpu, **stages(line)})
                print(f"{name} run {run + 1}: wall {wall:.0f} ms, CPU {cpu:.0f} ms | {line}", flush=True)
        for name, rows in results.items():
            summary(name, rows)
        if args.baseline:
            ratios = [d["wall"] / b["wall"] for b, d in zip(results["baseline"], results["daemon"])]
            print(f"daemon/baseline wall, pair by pair: {statistics.median(ratios):.2f} ({min(ratios):.2f}-{max(ratios):.2f})")
    finally:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
