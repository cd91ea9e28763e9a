"""The work kernel's claim (``herald.work.claim``) against today's prepared claim of publish tasks
(``herald.tasks.claim``), on the same table and database, in alternating batches.

Each round claims ``--batch`` queued publish tasks with one claim, then as many with the other (the
order flips every round), each claim a write transaction of its own, and sums the CPU time per
claim of each side over ``--rounds`` rounds; both claim the same kind of row (queued, due, no lease:
the publish mode, one UPDATE … RETURNING). SQLite in a temporary directory; no Redis.

    .venv/bin/python bench/work_claim.py [--rounds 20] [--batch 200]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from herald import tasks, work
from herald.migrate import upgrade
from herald.models import Account, Post, PublishTask, Workspace, bind_database, db, utcnow
from herald.work import Outcome, Statuses, WorkKind

# Publish tasks as a work kind: the statuses their API shows.
TASKS = WorkKind(name="task", model=PublishTask, run=lambda runtime, row, mode: Outcome.done(), lease_seconds=60,
                 job_timeout=50, statuses=Statuses(running="publishing", waiting="publishing", done="published"))


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
        "tasks.claim (prepared)": lambda task_id: tasks.claim(task_id, 60),
        "work.claim": lambda task_id: work.claim(TASKS, task_id, utcnow()),
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
    baseline = statistics.median(spent["tasks.claim (prepared)"])
    for name, figures in spent.items():
        median = statistics.median(figures)
        print(f"{name:<24} {median:8.1f} us CPU per claim (median of {args.rounds} rounds), "
              f"{median / baseline:.2f} x tasks.claim")


if __name__ == "__main__":
    main()
