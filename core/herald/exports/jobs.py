"""Exports as background jobs: the GDPR archive, the posts CSV and a client's JSON export, written to a
file by a worker, with progress, and offered at a signed, expiring link.

Each is a kind of background job (:mod:`herald.ai.background`'s work kind ``background``, polled at
``GET /api/jobs/<id>``): ``account_export``, ``posts_csv`` and ``client_export`` (:data:`FUNCTIONS`).
A job writes ``<data dir>/exports/<job id>.<step>.part`` and renames it to ``<job id>.<ext>`` only
when it is complete (after an fsync), so no half file is ever offered: the download checks that the
job succeeded. While it runs it records ``progress`` (``phase``, rows ``done``, ``total``) at most
every :data:`PROGRESS_SECONDS`. Its result names the file, its size and rows, and the signed
``download_url`` (:mod:`herald.exports.links`) with its ``expires_at``. The kinds are restartable: a
worker killed mid-export leaves its row under a lease; the reconciler hands it to a new worker, which
writes the export again from the start (the old part file is removed once the job is final).
:func:`purge` (``herald cron``) deletes every file whose link expired, and leftovers of finished jobs.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

from ..db.models import BackgroundJob, Client, isoformat, write_transaction
from ..media.configured import media_store
from . import archive, links, post_exports
from .csvsafe import csv_batches

log = logging.getLogger("herald.exports")

ACCOUNT_EXPORT, POSTS_CSV, CLIENT_EXPORT = "account_export", "posts_csv", "client_export"
# Kind -> (file extension, media type, the scope a caller needs to see the job and download it).
FILES = {ACCOUNT_EXPORT: ("zip", "application/zip", "admin"), POSTS_CSV: ("csv", "text/csv", "posts:read"),
         CLIENT_EXPORT: ("json", "application/json", "posts:read")}
PROGRESS_SECONDS = 1.0
WRITE_BUFFER = 1024 * 1024
FINAL = ("succeeded", "failed")


def directory(runtime) -> Path:
    """Where export files are written: ``<HERALD_DATA_DIR>/exports``."""
    return runtime.config.data_dir / "exports"


def file_path(runtime, job_id: str, kind: str) -> Path:
    """The finished file of job ``job_id`` of ``kind``."""
    return directory(runtime) / f"{job_id}.{FILES[kind][0]}"


def download_name(job: BackgroundJob) -> str:
    """The file name a download gets: ``herald-account-<workspace>-<finished>.zip`` and the like."""
    stamp = (job.finished_at or job.created_at).strftime("%Y%m%d-%H%M%S")
    label = {ACCOUNT_EXPORT: f"account-{job.workspace_id}", POSTS_CSV: "posts",
             CLIENT_EXPORT: f"client-{(job.params or {}).get('client_id')}"}[job.kind]
    if job.kind == POSTS_CSV and (job.params or {}).get("client_id"):
        label += f"-client-{job.params['client_id']}"
    return f"herald-{label}-{stamp}.{FILES[job.kind][0]}"


class _Progress:
    """Writes a job's ``progress`` when the phase changes or every :data:`PROGRESS_SECONDS`, not per batch."""

    def __init__(self, job_id: str):
        self.job_id = job_id
        self.phase: str | None = None
        self.written_at = 0.0

    def __call__(self, phase: str, done: int, total: int | None) -> None:
        now = time.monotonic()
        if phase == self.phase and now - self.written_at < PROGRESS_SECONDS:
            return
        self.phase, self.written_at = phase, now
        with write_transaction():
            (BackgroundJob.update(progress={"phase": phase, "done": done, "total": total})
             .where(BackgroundJob.id == self.job_id).execute())


def _write_file(runtime, job_id: str, kind: str, write) -> tuple[Path, int]:
    """Run ``write(binary file)`` into a part file, make it durable and give it its final name;
    returns the path and the rows ``write`` reported."""
    folder = directory(runtime)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    step = BackgroundJob.get_by_id(job_id).step
    part = folder / f"{job_id}.{step}.part"
    # Owner only, as the database file: an archive holds everything the workspace has.
    descriptor = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb", buffering=WRITE_BUFFER) as out:
        rows = write(out)
        out.flush()
        os.fsync(out.fileno())
    final = file_path(runtime, job_id, kind)
    os.replace(part, final)
    return final, rows


def _result(runtime, job_id: str, workspace_id: int, kind: str, path: Path, rows: int) -> dict:
    expires = runtime.clock.now() + dt.timedelta(hours=runtime.config.export_link_hours)
    return {"rows": rows, "bytes": path.stat().st_size, "content_type": FILES[kind][1],
            "download_url": links.download_path(runtime.config.resolved_secret_key(), job_id, workspace_id, expires),
            "expires_at": isoformat(expires)}


class _Counted:
    """The items of ``items``, counted, with progress reported as they are taken; the first ``skip`` items
    are not rows (a document's head); with ``batches``, each item is a batch given as its columns, counted by
    the length of its first."""

    def __init__(self, items: Iterable, progress: _Progress, phase: str, total: int, skip: int = 0,
                 batches: bool = False):
        self.items, self.progress, self.phase, self.total, self.skip = items, progress, phase, total, skip
        self.batches = batches
        self.done = 0

    @property
    def rows(self) -> int:
        """The rows taken so far."""
        return min(self.total, max(0, self.done - self.skip))

    def __iter__(self) -> Iterator:
        self.progress(self.phase, 0, self.total)
        for item in self.items:
            yield item
            self.done += len(item[0]) if self.batches else 1
            self.progress(self.phase, self.rows, self.total)


def account_export(runtime, *, workspace_id: int, job_id: str) -> dict:
    """Job: the GDPR archive of the workspace (:mod:`herald.exports.archive`) into a file."""
    progress = _Progress(job_id)

    def write(out):
        return archive.write_archive(out, workspace_id, media_store(runtime.config), runtime.clock.now(), progress)

    path, rows = _write_file(runtime, job_id, ACCOUNT_EXPORT, write)
    return _result(runtime, job_id, workspace_id, ACCOUNT_EXPORT, path, rows)


def posts_csv(runtime, *, workspace_id: int, job_id: str, client_id: int | None = None) -> dict:
    """Job: the posts CSV (``GET /api/export/posts``) of the workspace or one client into a file."""
    progress = _Progress(job_id)
    total = post_exports.count_posts(workspace_id, client_id)

    def write(out):
        rows = _Counted(post_exports.post_csv_batches(workspace_id, client_id), progress, "posts", total,
                        batches=True)
        for chunk in csv_batches(post_exports.POST_COLUMNS, rows):
            out.write(chunk)
        progress("done", rows.done, total)
        return rows.done

    path, rows = _write_file(runtime, job_id, POSTS_CSV, write)
    return _result(runtime, job_id, workspace_id, POSTS_CSV, path, rows)


def client_export(runtime, *, workspace_id: int, job_id: str, client_id: int, client_shape: dict) -> dict:
    """Job: a client's JSON export (``GET /api/clients/<id>/export``) into a file; ``client_shape`` is
    the client as the API showed it when the export was asked for."""
    progress = _Progress(job_id)
    client = Client.get_by_id(client_id)
    total = post_exports.count_posts(workspace_id, client_id)

    def write(out):
        # The first piece is the head and the last the accounts; every piece between is one post.
        pieces = _Counted(post_exports.client_export(workspace_id, client, client_shape, runtime.clock.now()),
                          progress, "posts", total, skip=1)
        for piece in pieces:
            out.write(piece.encode())
        progress("done", pieces.done - 2, total)
        return pieces.done - 2

    path, rows = _write_file(runtime, job_id, CLIENT_EXPORT, write)
    return _result(runtime, job_id, workspace_id, CLIENT_EXPORT, path, rows)


FUNCTIONS = {ACCOUNT_EXPORT: account_export, POSTS_CSV: posts_csv, CLIENT_EXPORT: client_export}


def purge(runtime, now: dt.datetime) -> int:
    """Delete export files whose link expired, part files of jobs that ended, and files of jobs that are
    gone (their workspace was deleted); returns how many files went. Run by ``herald cron``."""
    folder = directory(runtime)
    if not folder.is_dir():
        return 0
    removed = 0
    for path in folder.iterdir():
        job_id = path.name.split(".", 1)[0]
        job = BackgroundJob.get_or_none(BackgroundJob.id == job_id)
        if job is None:
            stale = True
        elif path.name.endswith(".part"):
            stale = job.status in FINAL or not path.name.endswith(f".{job.step}.part")
        else:
            expires = (job.result or {}).get("expires_at") if job.status == "succeeded" else None
            stale = job.status in FINAL and (expires is None or expires <= isoformat(now))
        if stale:
            path.unlink(missing_ok=True)
            removed += 1
    if removed:
        log.info("removed %s expired export files", removed)
    return removed
