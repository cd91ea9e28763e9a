"""The work kernel's prepared claim (``herald.work.claim`` of the ``publish`` kind) against the same
UPDATE … RETURNING rendered by peewee for every claim, on the same table and database, in
alternating batches: what preparing the claim once saves (see ``herald.work.kernel``).

Each round claims ``--batch`` queued publish tasks with one claim, then as many with the other (the
order flips every round), each claim a write transaction of its own, and sums the CPU time per
claim of each side over ``--rounds`` rounds; both claim the same kind of row (queued, due, no lease:
mode ``run``, one UPDATE … RETURNING). SQLite in a temporary directory; no Redis.

    .venv/bin/python bench/work_claim.py [--rounds 20] [--batch 200]
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import tempfile
import time
from pathlib import Path

from herald import work
from herald.db.models import Account, Post, PublishTask, Workspace, bind_database, db, utcnow, write_transaction
from herald.publishing import publish_work, tasks
from herald.upgrading import upgrade
from herald.work.kernel import SCHEDULER_SLACK


def rendered_claim(task_id: int) -> PublishTask | None:
    """The ``run`` claim of the kernel, written out and rendered by peewee each time."""
    now, task = utcnow(), PublishTask
    due = task.due_at.is_null() | (task.due_at <= now + SCHEDULER_SLACK)
    with write_transaction():
        rows = list(task.update({task.status: tasks.PUBLISHING, task.step: task.step + 1,
                                 task.lease_until: now + dt.timedelta(seconds=tasks.LEASE_SECONDS),
                                 task.attempts: task.attempts + 1, task.updated_at: now})
                    .where((task.id == task_id) & task.status.in_([tasks.QUEUED, tasks.RETRYING])
                           & task.lease_until.is_null() & due).returning(task).execute())
    return rows[0] if rows else None


def prepare(count: int) -> list[int]:
    """A fresh database with ``count`` queued publish tasks; their ids."""
    database = bind_database(f"sqlite:///{Path(tempfile.mkdtemp(prefix='herald-claim-')) / 'herald.db'}")
    upgrade(database)
    with db.connection_context(), db.atomic():
        workspace = Workspace.create(name="bench")
        account = Account.create(workspace=workspace, platform="facebook", external_id="1", token_encrypted="x")
        ids = []
        for number in range(count):
            post = Post.create(workspace=workspace, caption=f"post {number}")
            ids.append(PublishTask.create(workspace=workspace, post=post, account=account, platform="facebook",
                                          status=tasks.QUEUED, due_at=utcnow()).id)
    return ids


def main() -> None:
    """Run the rounds and print the CPU time per claim of each side and their ratio."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--batch", type=int, default=200)
    args = parser.parse_args()
    ids = iter(prepare(args.rounds * args.batch * 2 + 2 * args.batch))
    sides = {
        "work.claim (prepared)": lambda task_id: work.claim(publish_work.KIND, task_id, utcnow()),
        "rendered each time": rendered_claim,
    }
    spent = {name: [] for name in sides}
    with db.connection_context():
        for claim in sides.values():  # warm up: render, cache, page in
            for _ in range(args.batch):
                assert claim(next(ids)) is not None
        for number in range(args.rounds):
            order = list(sides) if number % 2 == 0 else list(reversed(sides))
            for name in order:
                batch = [next(ids) for _ in range(args.batch)]
                started = time.process_time()
                for task_id in batch:
                    assert sides[name](task_id) is not None
                spent[name].append((time.process_time() - started) / args.batch * 1e6)
    baseline = statistics.median(spent["work.claim (prepared)"])
    for name, figures in spent.items():
        median = statistics.median(figures)
        print(f"{name:<24} {median:8.1f} us CPU per claim (median of {args.rounds} rounds), "
              f"{median / baseline:.2f} x work.claim")


if __name__ == "__main__":
    main()
