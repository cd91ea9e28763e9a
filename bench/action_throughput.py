"""Throughput of ``create_post`` through ``POST /api/webhooks`` against a bare Flask JSON echo app.

Both run under gunicorn as ``herald serve`` runs it (2 workers of ``herald.web.serving.HeraldWorker``
with 4 threads each; ``--worker-class``/``--threads`` choose others, e.g. ``sync``) on this machine
and are driven by the same load generator (several processes, one HTTP request per connection), in
the same run. Herald's side does everything a real request does: key lookup, Redis
rate limiting (limit set high so nothing is rejected), schema validation, caption scoring, a SQLite
write with its version row and event. The figure that matters is the ratio.

The machine these figures come from is shared and its speed drifts by half within minutes, so both
servers stay up and the load generator switches between them in short windows (``--window``
seconds, default 1), echo and Herald in turn, in the order echo-Herald-Herald-echo so that a steady
drift falls on both alike, until each side has had ``--duration`` seconds. The ratio is Herald's
requests over echo's in the same total time; the spread of the ratios of neighbouring windows is
printed beside it. Each side also prints the CPU one request costs, split into the gunicorn
workers' and the load generator's (Linux only): on 2 shared cores the ratio can be no better than
echo's total CPU per request over Herald's, so the split shows where the bound comes from.

    .venv/bin/python bench/action_throughput.py [--duration 12] [--window 1] [--connections 8]
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import resource
import shutil
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


def request_once(port: int, body: bytes, headers: dict) -> tuple[int, bytes]:
    """One POST on a new connection: (status, body); status 0 when the connection failed."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("POST", "/api/webhooks", body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response.read()
    except OSError:
        return 0, b""
    finally:
        connection.close()


def drive(schedule: list[tuple[int, float, float]], body: bytes, headers: dict, results) -> None:
    """Send requests to each window's port from its start to its end (``time.monotonic``, which all
    processes share); put one ``(ok, errors, latencies, cpu seconds)`` per window."""
    windows = []
    for port, start, end in schedule:
        time.sleep(max(0.0, start - time.monotonic()))
        ok = errors = 0
        latencies = []
        before = resource.getrusage(resource.RUSAGE_SELF)
        while time.monotonic() < end:
            started = time.perf_counter()
            status, payload = request_once(port, body, headers)
            if status == 201:
                ok += time.monotonic() <= end  # one still under way at the end does not count
            else:
                errors += 1
                if errors == 1:
                    print(f"first error on port {port}: {status} {payload[:200]!r}", file=sys.stderr)
            latencies.append(time.perf_counter() - started)
        after = resource.getrusage(resource.RUSAGE_SELF)
        windows.append((ok, errors, latencies, after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime))
    results.put(windows)


def warm_up(port: int, body: bytes, headers: dict, deadline: float) -> None:
    """Wait for a first successful answer (gunicorn listens before its workers have loaded the
    app, and Herald's takes most of a second), then keep one connection busy for a second more."""
    while time.monotonic() < deadline:
        if request_once(port, body, headers)[0] == 201:
            break
        time.sleep(0.05)
    else:
        raise RuntimeError(f"no successful answer on port {port}")
    until = time.monotonic() + 1.0
    while time.monotonic() < until:
        request_once(port, body, headers)


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


def gunicorn(target: str, port: int, env: dict, cwd: Path, args) -> subprocess.Popen:
    return subprocess.Popen([str(BIN / "gunicorn"), "-w", "2", "-k", args.worker_class, "--threads", str(args.threads),
                             "--no-control-socket", "-b", f"127.0.0.1:{port}", target],
                            env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def window_order(windows_per_side: int) -> list[str]:
    """``echo, herald, herald, echo, echo, herald, ...``: each side as often, a steady drift shared."""
    order = []
    while len(order) < 2 * windows_per_side:
        order += ["echo", "herald"] if len(order) % 4 == 0 else ["herald", "echo"]
    return order


def measure(servers: dict, body: bytes, headers: dict, args) -> dict:
    """Drive the servers ({side: (port, pids)}) window by window; the totals of each side."""
    windows_per_side = max(1, round(args.duration / args.window))
    order = window_order(windows_per_side)
    gap = 0.2  # lets the requests of one window finish before the next begins
    first = time.monotonic() + 1.0  # time for the load generator's processes to start
    schedule = [(servers[side][0], first + index * (args.window + gap), first + index * (args.window + gap)
                 + args.window) for index, side in enumerate(order)]
    results = multiprocessing.Queue()
    workers = [multiprocessing.Process(target=drive, args=(schedule, body, headers, results))
               for _ in range(args.connections)]
    for worker in workers:
        worker.start()
    server_cpu = []
    for side, (_, start, end) in zip(order, schedule, strict=True):
        time.sleep(max(0.0, start - time.monotonic()))
        used = -sum(cpu_seconds(pid) for pid in servers[side][1])
        time.sleep(max(0.0, end + gap / 2 - time.monotonic()))
        server_cpu.append(used + sum(cpu_seconds(pid) for pid in servers[side][1]))
    collected = [results.get() for _ in workers]
    for worker in workers:
        worker.join()
    totals = {side: {"ok": 0, "errors": 0, "latencies": [], "client_cpu": 0.0, "server_cpu": 0.0, "windows": []}
              for side in servers}
    for index, side in enumerate(order):
        ok = sum(process[index][0] for process in collected)
        total = totals[side]
        total["ok"] += ok
        total["windows"].append(ok)
        total["errors"] += sum(process[index][1] for process in collected)
        total["latencies"] += [lat for process in collected for lat in process[index][2]]
        total["client_cpu"] += sum(process[index][3] for process in collected)
        total["server_cpu"] += server_cpu[index]
    seconds = windows_per_side * args.window
    for total in totals.values():
        per_request_ms = 1000 / total["ok"] if total["ok"] else 0.0
        latencies = sorted(total["latencies"])
        total.update(rate=total["ok"] / seconds, p50_ms=latencies[len(latencies) // 2] * 1000 if latencies else 0,
                     server_cpu_ms=total["server_cpu"] * per_request_ms,
                     client_cpu_ms=total["client_cpu"] * per_request_ms)
    return totals


def neighbour_ratios(totals: dict) -> list[float]:
    """Herald's requests over echo's in each pair of neighbouring windows (the spread of the figure)."""
    return [herald / echo for echo, herald in zip(totals["echo"]["windows"], totals["herald"]["windows"], strict=True)
            if echo]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=12.0, help="seconds of load on each side (default 12)")
    parser.add_argument("--window", type=float, default=1.0, help="seconds of one window (default 1)")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--worker-class", default="herald.web.serving.HeraldWorker",
                        help="gunicorn worker class of both servers (default: herald serve's)")
    parser.add_argument("--threads", type=int, default=4, help="threads per worker (default 4, as herald serve)")
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

    echo_port, herald_port = free_port(), free_port()
    echo = gunicorn("echo_app:app", echo_port, env, tmp, args)
    herald = gunicorn("herald.web.app:create_app()", herald_port, env, ROOT, args)
    try:
        for port in (echo_port, herald_port):
            wait_until_serving(port, time.monotonic() + 20)
            warm_up(port, body, headers, time.monotonic() + 30)
        servers = {"echo": (echo_port, [echo.pid, *children_of(echo.pid)]),
                   "herald": (herald_port, [herald.pid, *children_of(herald.pid)])}
        totals = measure(servers, body, headers, args)
    finally:
        for server in (echo, herald):
            server.terminate()
            server.wait(timeout=10)
        shutil.rmtree(tmp, ignore_errors=True)
    ratios = neighbour_ratios(totals)
    for side in ("echo", "herald"):
        total = totals[side]
        print(f"{side:6} {total['rate']:6.0f} req/s (p50 {total['p50_ms']:.1f} ms, errors {total['errors']}); "
              f"{cpu(total)}")
    print(f"ratios of neighbouring windows: min {min(ratios):.2f}, median {statistics.median(ratios):.2f}, "
          f"max {max(ratios):.2f} ({len(ratios)} pairs of {args.window:g} s)")
    print(f"action_throughput: herald {totals['herald']['rate']:.0f} req/s, echo {totals['echo']['rate']:.0f} req/s, "
          f"ratio {totals['herald']['rate'] / totals['echo']['rate']:.2f} ({args.duration:g} s each, in alternating "
          f"{args.window:g} s windows; gunicorn 2 workers {args.worker_class} x {args.threads} threads, "
          f"{args.connections} connections, Python load generator "
          f"on the same 2 cores)")


if __name__ == "__main__":
    main()
