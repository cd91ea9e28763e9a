"""Throughput of ``create_post`` through ``POST /api/webhooks`` against a bare Flask JSON echo app.

Both run under gunicorn with 2 sync workers on this machine and are driven by the same load
generator (several processes, one HTTP request per connection, as gunicorn's sync workers close
connections) for the same duration, in the same run. Herald's side does everything a real request
does: key lookup, Redis rate limiting (limit set high so nothing is rejected), schema validation,
a SQLite write with its version row and event. The figure that matters is the ratio.

The machine these figures come from is shared and noisy (its speed drifts by half within minutes),
so ``--repeat`` (default 3) echo/Herald pairs run interleaved and the median of their ratios is
reported, with every pair's figures. Each side also prints the CPU one request costs, split into the
gunicorn workers' and the load generator's (Linux only): on 2 shared cores the ratio can be no better
than echo's total CPU per request over Herald's, so the split shows where the bound comes from.

    .venv/bin/python bench/action_throughput.py [--duration 6] [--connections 8] [--repeat 3]
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
ECHO_APP = textwrap.dedent("""
    from flask import Flask, jsonify, request
    app = Flask("echo")

    @app.post("/api/webhooks")
    def echo():
        return jsonify(request.get_json()), 201
""")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_serving(port: int, deadline: float) -> None:
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port}")


def drive(port: int, body: bytes, headers: dict, until: float, results) -> None:
    ok = errors = 0
    latencies = []
    while time.monotonic() < until:
        started = time.perf_counter()
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            connection.request("POST", "/api/webhooks", body=body, headers=headers)
            response = connection.getresponse()
            payload = response.read()
            if response.status == 201:
                ok += 1
            else:
                errors += 1
                if errors == 1:
                    print(f"first error: {response.status} {payload[:200]!r}", file=sys.stderr)
        except OSError:
            errors += 1
        finally:
            connection.close()
        latencies.append(time.perf_counter() - started)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    results.put((ok, errors, latencies, usage.ru_utime + usage.ru_stime))


def warm_up(port: int, body: bytes, headers: dict, deadline: float) -> None:
    """Wait for a first successful answer (gunicorn listens before its workers have loaded the
    app, and Herald's takes most of a second), then keep one connection busy for a second more."""
    while time.monotonic() < deadline:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            connection.request("POST", "/api/webhooks", body=body, headers=headers)
            if connection.getresponse().status == 201:
                break
        except OSError:
            time.sleep(0.05)
        finally:
            connection.close()
    else:
        raise RuntimeError(f"no successful answer on port {port}")
    drive(port, body, headers, time.monotonic() + 1.0, multiprocessing.Queue())


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time ``pid`` has used so far, from /proc (0 where there is none)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children_of(pid: int) -> list[int]:
    """The processes ``pid`` forked (gunicorn's workers), from /proc (empty where there is none)."""
    try:
        return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def measure(port: int, body: bytes, headers: dict, duration: float, connections: int, server_pid: int) -> dict:
    warm_up(port, body, headers, time.monotonic() + 30)
    server_pids = [server_pid, *children_of(server_pid)]
    server_cpu = -sum(cpu_seconds(pid) for pid in server_pids)
    results = multiprocessing.Queue()
    until = time.monotonic() + duration
    workers = [multiprocessing.Process(target=drive, args=(port, body, headers, until, results))
               for _ in range(connections)]
    for worker in workers:
        worker.start()
    collected = [results.get() for _ in workers]
    server_cpu += sum(cpu_seconds(pid) for pid in server_pids)
    for worker in workers:
        worker.join()
    ok = sum(item[0] for item in collected)
    latencies = sorted(lat for item in collected for lat in item[2])
    per_request_ms = 1000 / ok if ok else 0.0
    return {"rate": ok / duration, "errors": sum(item[1] for item in collected),
            "p50_ms": latencies[len(latencies) // 2] * 1000 if latencies else 0,
            "server_cpu_ms": server_cpu * per_request_ms,
            "client_cpu_ms": sum(item[3] for item in collected) * per_request_ms}


def gunicorn(target: str, port: int, env: dict, cwd: Path) -> subprocess.Popen:
    return subprocess.Popen([str(BIN / "gunicorn"), "-w", "2", "-b", f"127.0.0.1:{port}", target],
                            env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def serve_and_measure(target: str, cwd: Path, env: dict, body: bytes, headers: dict, args) -> dict:
    """Start ``target`` under gunicorn, drive it for ``args.duration`` seconds, stop it."""
    port = free_port()
    server = gunicorn(target, port, env, cwd)
    try:
        wait_until_serving(port, time.monotonic() + 20)
        return measure(port, body, headers, args.duration, args.connections, server.pid)
    finally:
        server.terminate()
        server.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=6.0)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=3, help="echo/Herald pairs, interleaved (default 3)")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="herald-bench-"))
    env = dict(os.environ, HERALD_DATA_DIR=str(tmp), HERALD_REDIS_URL="redis://127.0.0.1:6379/12",
               HERALD_RATE_LIMIT="100000000/minute", HERALD_SECRET_KEY="bench")
    subprocess.run([str(BIN / "herald"), "init-db"], env=env, check=True, capture_output=True)
    setup = subprocess.run([str(BIN / "herald"), "demo"], env=env, check=True, capture_output=True, text=True)
    key = next(line.split()[-1] for line in setup.stdout.splitlines() if line.startswith("API key"))
    import redis

    redis.Redis.from_url(env["HERALD_REDIS_URL"]).flushdb()
    (tmp / "echo_app.py").write_text(ECHO_APP)
    body = json.dumps({"action": "create_post", "client_id": 1, "topic": "Text on design",
                       "caption": "Instagram caption", "post_type": "post", "platforms": "instagram"}).encode()
    headers = {"Content-Type": "application/json", "X-API-Key": key}

    def cpu(side: dict) -> str:
        return f"cpu/request {side['server_cpu_ms']:.2f} ms gunicorn + {side['client_cpu_ms']:.2f} ms load generator"

    pairs = []
    for round_number in range(1, args.repeat + 1):
        echo = serve_and_measure("echo_app:app", tmp, env, body, headers, args)
        herald = serve_and_measure("herald.app:create_app()", ROOT, env, body, headers, args)
        pairs.append((echo, herald))
        print(f"pair {round_number}: echo {echo['rate']:6.0f} req/s (p50 {echo['p50_ms']:.1f} ms, "
              f"errors {echo['errors']}), herald {herald['rate']:6.0f} req/s (p50 {herald['p50_ms']:.1f} ms, "
              f"errors {herald['errors']}), ratio {herald['rate'] / echo['rate']:.2f}")
        print(f"        echo {cpu(echo)}; herald {cpu(herald)}")
    ratio = statistics.median(herald["rate"] / echo["rate"] for echo, herald in pairs)
    echo_rate = statistics.median(echo["rate"] for echo, _ in pairs)
    herald_rate = statistics.median(herald["rate"] for _, herald in pairs)
    print(f"action_throughput: herald {herald_rate:.0f} req/s, echo {echo_rate:.0f} req/s, "
          f"ratio {ratio:.2f} (median of {args.repeat} interleaved pairs; gunicorn 2 sync workers, "
          f"{args.connections} connections, Python load generator on the same 2 cores)")


if __name__ == "__main__":
    main()
