#!/usr/bin/env python3
"""1 KiB puts against a three-member etcd cluster on loopback, through etcd's v3 JSON gateway.

Starts the members itself (Debian's etcd-server), measures puts per second and latency with one
request in flight and with many, prints a JSON report, and stops the members. Standard library
only: one keep-alive HTTP connection per client thread.
"""
import argparse, base64, http.client, json, os, shutil, subprocess, sys, tempfile, threading, time

def free_port():
    import socket
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p

def start_cluster(workdir):
    names = ["e1", "e2", "e3"]
    peer = {n: free_port() for n in names}
    client = {n: free_port() for n in names}
    initial = ",".join(f"{n}=http://127.0.0.1:{peer[n]}" for n in names)
    procs = []
    for n in names:
        log = open(os.path.join(workdir, f"{n}.log"), "w")
        procs.append(subprocess.Popen([
            "etcd", "--name", n, "--data-dir", os.path.join(workdir, n),
            "--listen-peer-urls", f"http://127.0.0.1:{peer[n]}",
            "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer[n]}",
            "--listen-client-urls", f"http://127.0.0.1:{client[n]}",
            "--advertise-client-urls", f"http://127.0.0.1:{client[n]}",
            "--initial-cluster", initial, "--initial-cluster-state", "new",
            "--initial-cluster-token", "silkline-bench",
        ], stdout=log, stderr=subprocess.STDOUT))
    return procs, [client[n] for n in names]

def put(conn, key, value):
    body = json.dumps({"key": base64.b64encode(key).decode(), "value": base64.b64encode(value).decode()})
    conn.request("POST", "/v3/kv/put", body, {"Content-Type": "application/json"})
    r = conn.getresponse(); data = r.read()
    if r.status != 200:
        raise RuntimeError(f"put failed: {r.status} {data[:200]!r}")

def wait_ready(port, deadline_s=60):
    start = time.time()
    while time.time() - start < deadline_s:
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            put(c, b"ready", b"1"); c.close(); return
        except Exception:
            time.sleep(0.2)
    raise RuntimeError("etcd did not become ready")

def run(ports, count, concurrency, value):
    latencies = []; lock = threading.Lock(); next_i = [0]
    def worker(w):
        conn = http.client.HTTPConnection("127.0.0.1", ports[w % len(ports)], timeout=30)
        mine = []
        while True:
            with lock:
                i = next_i[0]; next_i[0] += 1
            if i >= count:
                break
            t = time.perf_counter(); put(conn, b"k%08d" % i, value); mine.append((time.perf_counter() - t) * 1000)
        with lock:
            latencies.extend(mine)
    threads = [threading.Thread(target=worker, args=(w,)) for w in range(concurrency)]
    start = time.perf_counter()
    for t in threads: t.start()
    for t in threads: t.join()
    wall = time.perf_counter() - start
    latencies.sort()
    pct = lambda p: latencies[min(len(latencies) - 1, round(p / 100 * (len(latencies) - 1)))]
    return {"concurrency": concurrency, "puts": count, "wallSeconds": wall, "putsPerSecond": count / wall,
            "latencyMs": {"p50": pct(50), "p99": pct(99), "max": latencies[-1]}}

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sequential", type=int, default=2000)
    ap.add_argument("--parallel", type=int, default=20000)
    ap.add_argument("--concurrency", type=int, default=200)
    args = ap.parse_args()
    if shutil.which("etcd") is None:
        sys.exit("etcd is not installed: apt-get install -y etcd-server etcd-client")
    workdir = tempfile.mkdtemp(prefix="etcd-bench-")
    procs, ports = start_cluster(workdir)
    try:
        for p in ports: wait_ready(p)
        value = os.urandom(1024)
        report = {"etcd": [run(ports, args.sequential, 1, value), run(ports, args.parallel, args.concurrency, value)]}
        print(json.dumps(report, indent=2))
    finally:
        for p in procs: p.terminate()
        for p in procs: p.wait(timeout=15)
        shutil.rmtree(workdir, ignore_errors=True)

if __name__ == "__main__":
    main()
