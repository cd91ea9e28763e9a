"""Webhook latency under a publish backlog: seconds from an event to its delivery's arrival while
``--posts`` posts (default 1,000) are being published on this machine (issue 19, item 6).

Two layouts of worker processes, each in the same run on the same machine:

- ``herald run``'s: a ``herald worker`` per queue (``herald.work.queue.queue_names``);
- the baseline, ``herald run``'s layout before: one ``herald worker`` on every queue (it takes jobs
  from the ``publish`` queue first).

For each layout, ``--posts`` Facebook text posts are created through ``POST /v1/publish`` (Flask
test client, in this process) while no worker runs, their jobs are taken off the queue, the workers
are started and left to become idle, and the jobs are put back in one command: the backlog starts
at once. Then ``--probes`` events (``post.created``, from ``create_post`` on the action endpoint)
are emitted one a second to a webhook endpoint subscribed to them (a local receiver,
tests/fakes/receiver.py); a probe's latency is its receipt minus the moment its request was sent.
A probe not received within ``--patience`` seconds ends the layout's run (the next ones would wait
behind it too). The fake Graph API (tests/fakes/graph.py, in this process) waits
``--graph-latency`` seconds (default 0.2) before every answer, as the real one does, so the backlog
outlasts the probes. Printed per layout: p50 and max latency (goal: under 2 s with ``herald run``'s
workers), and how many posts were published meanwhile and how many still waited.

    .venv/bin/python bench/webhook_latency.py [--posts 1000] [--probes 10] [--graph-latency 0.2]
        [--patience 30] [--redis-url redis://127.0.0.1:6379/7]

Needs the Redis at ``--redis-url`` (flushed at the start); everything else is temporary.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import time
import types
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import publish_pipeline  # noqa: E402  (beside this script: its worker processes, fake Graph and set-up)

from fakes.receiver import Receiver  # noqa: E402
from herald.db.models import Client, PublishTask, Workspace, db  # noqa: E402
from herald.work.queue import (  # noqa: E402
    CORE_QUEUES,  # noqa: E402
    PUBLISH_QUEUE,
    get_queue,
)
from herald_webhooks import endpoints  # noqa: E402
from herald_webhooks.jobs import QUEUE as WEBHOOKS_QUEUE  # noqa: E402

QUEUES = CORE_QUEUES + (WEBHOOKS_QUEUE,)  # the core's queues and the webhooks plugin's

LAYOUTS = (("herald run: a worker per queue", tuple((name,) for name in QUEUES)),
           ("before: one worker on every queue", (QUEUES,)))


class LatencyBench(publish_pipeline.Bench):
    """publish_pipeline's set-up (data directory, fake Graph, accounts), plus a webhook receiver."""

    def setup(self) -> None:
        self.args.timeout = 0
        super().setup()
        self.env["HERALD_WEBHOOK_ALLOW_PRIVATE"] = "1"  # the receiver listens on 127.0.0.1
        with self.app.app_context(), db.connection_context():
            workspace = Workspace.get(Workspace.name == "Bench Agency")
            self.client_id = Client.create(workspace=workspace, name="Bench client").id
        self.receiver = Receiver().__enter__()
        # The app's settings refuse a loopback URL; the workers' allow it (HERALD_WEBHOOK_ALLOW_PRIVATE).
        config = dataclasses.replace(self.app.extensions["herald"].config, webhook_allow_private=True)
        with self.app.app_context(), db.connection_context():
            endpoints.create(types.SimpleNamespace(config=config), workspace.id,
                             {"url": self.receiver.url(), "events": ["post.created"]})

    def published(self) -> int:
        with db.connection_context():
            return PublishTask.select().where(PublishTask.status == "published").count()

    def run_layout(self, label: str, layout: tuple[tuple[str, ...], ...]) -> dict:
        """Publish a fresh backlog with ``layout``'s workers and probe webhook latency meanwhile."""
        self.publish_posts(self.args.posts, [self.facebook["id"]], [], "now", label)
        held = self.hold(PUBLISH_QUEUE)
        for names in layout:
            self.workers.start(1, names)
        latencies: list[float] = []
        try:
            for name in QUEUES:
                self.workers.wait_idle(self.redis, name, 1)
            published_before = self.published()
            self.redis.rpush(get_queue(self.redis, PUBLISH_QUEUE).key, *held)
            begin = time.time()
            for number in range(self.args.probes):
                pause = begin + number - time.time()
                if pause > 0:
                    time.sleep(pause)  # the probes' pace, one a second
                expected = len(self.receiver.received()) + 1
                sent = time.time()
                response = self.client.post("/api/webhooks", headers=self.headers, json={
                    "action": "create_post", "client_id": self.client_id, "caption": f"probe {number}"})
                self._expect(response, 201, "create_post")
                if not self.receiver.wait_for(expected, self.args.patience):
                    latencies.append(float("inf"))
                    break
                latencies.append(self.receiver.received()[-1].received_at - sent)
            waiting = get_queue(self.redis, PUBLISH_QUEUE).count
            published = self.published() - published_before
        finally:
            self.workers.stop()
        self.redis.delete(get_queue(self.redis, PUBLISH_QUEUE).key)  # what is left of this backlog
        return {"latencies": latencies, "published": published, "waiting": waiting}


def describe(seconds: float, patience: float) -> str:
    return f"not received within {patience:g} s" if seconds == float("inf") else f"{seconds * 1000:.0f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=1000)
    parser.add_argument("--probes", type=int, default=10)
    parser.add_argument("--graph-latency", type=float, default=0.2)
    parser.add_argument("--patience", type=float, default=30.0)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/7")
    parser.add_argument("--worker-class", default="simple", choices=("simple", "fork"))
    args = parser.parse_args()
    bench = LatencyBench(args)
    try:
        bench.setup()
        for label, layout in LAYOUTS:
            result = bench.run_layout(label, layout)
            latencies = result["latencies"]
            p50, worst = (describe(value, args.patience) for value in (statistics.median(latencies), max(latencies)))
            print(f"{label}: {len(latencies)} webhook(s) while {args.posts} posts were due "
                  f"({args.graph_latency:g} s per Graph call): p50 {p50}, max {worst}; meanwhile "
                  f"{result['published']} posts published, {result['waiting']} still queued "
                  "(goal: max under 2 s with herald run's workers)", flush=True)
    except publish_pipeline.Failure as exc:
        print(f"FAILED: {exc}", file=sys.stderr)
        sys.exit(1)
    finally:
        bench.close()


if __name__ == "__main__":
    main()
