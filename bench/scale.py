"""How Herald's reads grow with the data: 10k, 100k and (with ``--full``) 1M realistic posts.

One workspace grows in steps (10k posts, then 100k, then 1M: rows are added, never reloaded) on
SQLite and on PostgreSQL. It has 50 clients with an Instagram and a Facebook account each; one client
holds a fifth of the posts, one a fiftieth (the "20k-post client" at 1M), the others share the rest.
Posts have realistic captions (hooks, hashtags, emoji, links), 1-3 versions, statuses as an agency's
history has them (mostly published, some failed, drafts, scheduled in the coming weeks), a publish
task per platform, and 1-3 engagement snapshots once published.

Rows are written with bulk inserts (the driver's batch insert of the values peewee's ``insert_many``
would store, without building them into a statement node by node), not through the API: that is what
makes 1M posts load in minutes. The triggers that keep derived data are suspended while the rows go in
(:func:`herald.derived.suspended`), and every family (the list counters, the daily figures, the
intelligence revisions and per-post insights) is rebuilt from scratch after the load, as an operator
would after an import: the printed "derived data" seconds are that rebuild (and ``ANALYZE``).

At each size every read is requested ``--repeat`` times after ``--warmup`` requests, through the WSGI app
(no sockets) in a Python process started for the reads (not the one that generated and inserted the
rows: see :meth:`Deployment.measure`), and its p50/p95 in milliseconds is printed. The reads marked "after a
snapshot" follow, each, one engagement snapshot of the big client's newest published post (not timed):
the first read after a write, which cannot be a lookup of a stored result. The exports (the posts CSV of
the 1/50 client and of the big client, the GDPR archive) run as the jobs they are at scale, in a
``herald worker --burst`` process, while the reading process keeps reading ``GET /v1/posts``: their seconds and
rows per second (from the worker's start, and of the job alone as its row records it), the worker's
peak memory and the API's p95 meanwhile are printed. The last column is the growth from the
smallest size to the largest (p95 over p95): the goal is at most 2x.

    .venv/bin/python bench/scale.py                      # 10k and 100k, SQLite and PostgreSQL
    .venv/bin/python bench/scale.py --full               # also 1M (loading takes several minutes)
    .venv/bin/python bench/scale.py --db sqlite --sizes 10000,50000

PostgreSQL is used when it answers at ``--postgres`` (a database ``herald_bench_scale`` is created
and dropped); otherwise its columns are skipped with a note.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
SECRET = "bench-scale-secret"
PG_DATABASE = "herald_bench_scale"
CLIENTS = 50
BATCH = 1000
NOW = dt.datetime(2026, 12, 1, 12, 0, 0)

HOOKS = ["Stop scrolling:", "Nobody tells you this, but", "3 mistakes we see every week:", "Quick question:",
         "Here is the truth about", "We tried it for 30 days.", "Hot take:", "Save this for later.",
         "The one thing that changed everything:", "Behind the scenes:", "New drop!", "Did you know",
         "POV: your brand finally", "Unpopular opinion:", "This is your sign to", "Meet the team:"]
TOPICS = ["branding", "typography", "colour", "packaging", "launch", "team", "coffee", "recipes", "travel",
          "fitness", "skincare", "real estate", "events", "webinar", "sale", "sustainability", "hiring",
          "product tips", "customer story", "behind the scenes"]
SENTENCES = ["Good design is invisible until it is missing.", "We spent the week rebuilding our grid.",
             "Small details decide whether people stay.", "Our customers asked, we listened.",
             "Here is what we learned from 100 launches.", "Consistency beats intensity every time.",
             "The best ideas come from the people who use the product.", "Try it and tell us what you think.",
             "Swipe to see the before and after.", "Link in bio for the full story.",
             "Tag someone who needs to hear this.", "Which one is your favourite?",
             "It took three tries to get this right.", "Less noise, more signal."]
HASHTAGS = ["#design", "#branding", "#marketing", "#smallbusiness", "#socialmedia", "#contentcreator",
            "#agency", "#inspiration", "#startup", "#behindthescenes", "#tips", "#coffee", "#travel",
            "#fitness", "#skincare", "#realestate", "#sale", "#newdrop", "#teamwork", "#sustainability"]
EMOJI = ["✨", "🔥", "🚀", "💡", "👇", "🎉", "☕", "📈", "❤️", "🙌"]

READS = [
    # (label, method, path template, body); {client}: the big client, {small}: the 1/50 client
    ("GET /v1/posts first page", "GET", "/v1/posts", None),
    ("GET /v1/posts?page= deep page", "GET", "/v1/posts?page={deep_page}", None),
    ("GET /v1/posts?cursor= deep", "GET", "/v1/posts?cursor=post_{deep_id}", None),
    ("action list_posts (one client)", "POST", "/api/webhooks", {"action": "list_posts", "client_id": "{small}"}),
    ("GET /api/workspace/health", "GET", "/api/workspace/health", None),
    ("GET /api/clients/{id}/health", "GET", "/api/clients/{client}/health", None),
    ("GET /api/analytics/export?period=30", "GET", "/api/analytics/export?period=30", None),
    ("intelligence memory", "GET", "/api/intelligence/memory?client_id={client}", None),
    ("intelligence hooks", "GET", "/api/intelligence/hooks?client_id={client}", None),
    ("intelligence top-patterns", "GET", "/api/intelligence/top-patterns?client_id={client}", None),
    ("intelligence score", "POST", "/api/intelligence/score",
     {"caption": "Stop scrolling: 3 mistakes we see every week. #design #branding", "client_id": "{client}"}),
    ("intelligence export", "GET", "/api/intelligence/export?client_id={client}", None),
    ("intelligence analyze-performance", "POST", "/api/intelligence/analyze-performance", {"client_id": "{client}"}),
    ("client portal page (big client)", "GET", "/portal/{portal}", None),
    # each timed read follows one engagement snapshot of the big client's newest published post (untimed)
    ("intelligence memory after a snapshot", "GET", "/api/intelligence/memory?client_id={client}", None),
    ("intelligence hooks after a snapshot", "GET", "/api/intelligence/hooks?client_id={client}", None),
    ("intelligence top-patterns after a snapshot", "GET", "/api/intelligence/top-patterns?client_id={client}", None),
    ("intelligence score after a snapshot", "POST", "/api/intelligence/score",
     {"caption": "Stop scrolling: 3 mistakes we see every week. #design #branding", "client_id": "{client}"}),
    ("intelligence export after a snapshot", "GET", "/api/intelligence/export?client_id={client}", None),
    ("intelligence analyze-performance after a snapshot", "POST", "/api/intelligence/analyze-performance",
     {"client_id": "{client}"}),
]
AFTER_WRITE = {label for label, *_ in READS if label.endswith("after a snapshot")}


class Failure(RuntimeError):
    """The bench cannot go on (a read answered an error, a tool is missing)."""


def caption(rng: random.Random) -> str:
    """A caption as agencies write them: a hook line, 1-4 sentences, sometimes a link, emoji, hashtags."""
    lines = [f"{rng.choice(HOOKS)} {rng.choice(TOPICS)} {rng.choice(EMOJI) if rng.random() < 0.5 else ''}".strip()]
    lines.append(" ".join(rng.sample(SENTENCES, rng.randint(1, 4))))
    if rng.random() < 0.2:
        lines.append(f"https://example.com/{rng.choice(TOPICS).replace(' ', '-')}")
    lines.append(" ".join(rng.sample(HASHTAGS, rng.randint(0, 8))))
    return "\n\n".join(line for line in lines if line)


class Loader:
    """Adds posts (with versions, tasks and engagement) to the bench workspace with bulk inserts, the
    triggers of derived data suspended meanwhile and everything derived rebuilt after."""

    def __init__(self, models, derived, db, workspace_id: int, clients: list[int], accounts: dict[int, list[tuple]],
                 postgres: bool):
        self.models, self.derived, self.db, self.postgres = models, derived, db, postgres
        self.workspace_id, self.clients, self.accounts = workspace_id, clients, accounts
        self.rng = random.Random(25)
        self.count = 0
        # a fifth of the posts to the first client, a fiftieth to the second, the rest shared out
        rest = (1 - 0.2 - 0.02) / (len(clients) - 2)
        self.weights = [0.2, 0.02] + [rest] * (len(clients) - 2)

    def grow_to(self, total: int) -> tuple[float, float]:
        """Add posts until the workspace has ``total``; returns the seconds the rows took to go in and
        the seconds the derived data then took to rebuild."""
        started = time.perf_counter()
        with self.derived.suspended(self.db.obj):
            while self.count < total:
                size = min(BATCH, total - self.count)
                with self.db.atomic():
                    self._batch(size)
                self.count += size
            loaded = time.perf_counter() - started
        return loaded, time.perf_counter() - started - loaded

    def _batch(self, size: int) -> None:
        m, rng = self.models, self.rng
        # Created over the last two years (an agency importing its history), 5% scheduled in the coming weeks.
        span = dt.timedelta(days=730)
        post_rows, extras = [], []
        for _ in range(size):
            client = rng.choices(self.clients, self.weights)[0]
            created = NOW - span * rng.random()
            roll = rng.random()
            platforms = ["instagram", "facebook"] if rng.random() < 0.4 else [rng.choice(["instagram", "facebook"])]
            scheduled = published = None
            if roll < 0.72:
                status, published = "published", created + dt.timedelta(hours=rng.randint(1, 72))
                scheduled = published
            elif roll < 0.77:
                status, scheduled = "failed", created + dt.timedelta(hours=rng.randint(1, 72))
            elif roll < 0.82:
                status, scheduled = "queued", NOW + dt.timedelta(minutes=rng.randint(10, 60 * 24 * 28))
            elif roll < 0.85:
                status = "pending_approval"
            elif roll < 0.87:
                status = "approved"
            else:
                status = "draft"
            text = caption(rng)
            post_rows.append({
                "workspace": self.workspace_id, "client": client, "topic": rng.choice(TOPICS), "caption": text,
                "post_type": rng.choice(["post", "post", "post", "carousel", "reel"]), "platforms": platforms,
                "media": [], "status": status, "score": round(rng.uniform(20, 95), 1),
                "scheduled_at": scheduled, "published_at": published, "created_at": created,
                "updated_at": published or created})
            extras.append((client, status, platforms, created, scheduled, published))
        first_id = self._insert_returning_first(m.Post, post_rows)
        versions, tasks, snapshots = [], [], []
        for offset, (client, status, platforms, created, scheduled, published) in enumerate(extras):
            post_id = first_id + offset
            for number in range(1, rng.choice([1, 1, 2, 3]) + 1):
                versions.append({"post": post_id, "number": number, "actor": "api_key:1",
                                 "changes": {"caption": {"before": None if number == 1 else "…", "after": "…"}},
                                 "created_at": created + dt.timedelta(minutes=number)})
            if status in ("published", "failed", "queued"):
                for platform in platforms:
                    account = next(acc for acc in self.accounts[client] if acc[1] == platform)
                    task_status = {"published": "published", "failed": "failed", "queued": "queued"}[status]
                    tasks.append({"workspace": self.workspace_id, "post": post_id, "account": account[0],
                                  "platform": platform, "status": task_status,
                                  "due_at": scheduled if status == "queued" else None,
                                  "attempts": 0 if status == "queued" else 1, "state": {},
                                  "platform_post_id": f"{platform[:2]}_{post_id}" if published else None,
                                  "url": f"https://{platform}.com/p/{post_id}" if published else None,
                                  "error": "(#9004) The media could not be fetched" if status == "failed" else None,
                                  "published_at": published, "created_at": created,
                                  "updated_at": published or scheduled or created})
            if published is not None:
                reach = int(rng.lognormvariate(7.5, 1.0))
                for day in range(rng.randint(1, 3)):
                    grown = 1 + day * 0.3
                    snapshots.append({"post": post_id, "likes": int(reach * rng.uniform(0.01, 0.08) * grown),
                                      "comments": int(reach * rng.uniform(0.0, 0.01) * grown),
                                      "saves": int(reach * rng.uniform(0.0, 0.02) * grown),
                                      "shares": int(reach * rng.uniform(0.0, 0.01) * grown),
                                      "reach": int(reach * grown), "impressions": int(reach * grown * 1.4),
                                      "source": "api", "recorded_at": published + dt.timedelta(days=day + 1)})
        for model, rows in ((m.PostVersion, versions), (m.PublishTask, tasks), (m.EngagementSnapshot, snapshots)):
            self._insert(model, rows)

    def _insert(self, model, rows: list[dict]) -> None:
        """Insert ``rows`` as ``model.insert_many(rows)`` stores them (each field's ``db_value``; a field
        left out takes its default), through the driver's batch insert: peewee building one node per
        value took most of the load's time (80% in a profile of 10k posts on PostgreSQL)."""
        if not rows:
            return
        defaults = model._meta.defaults
        fields = [model._meta.fields[name] for name in rows[0]]
        fields += [field for field in defaults if field.name not in rows[0]]  # (a field's == makes an expression)
        values = [tuple(field.db_value(row[field.name] if field.name in row
                                       else defaults[field]() if callable(defaults[field]) else defaults[field])
                        for field in fields) for row in rows]
        columns = ", ".join(f'"{field.column_name}"' for field in fields)
        statement = f'INSERT INTO "{model._meta.table_name}" ({columns}) VALUES '
        cursor = self.db.cursor()
        if self.postgres:
            from psycopg2.extras import execute_values
            execute_values(cursor, statement + "%s", values, page_size=len(values))
        else:
            cursor.executemany(statement + f"({', '.join('?' * len(fields))})", values)

    def _insert_returning_first(self, model, rows: list[dict]) -> int:
        """Insert ``rows`` and return the first new id (ids are consecutive inside one transaction here)."""
        before = model.select(model.id).order_by(model.id.desc()).limit(1).scalar() or 0
        self._insert(model, rows)
        first = before + 1
        last = model.select(model.id).order_by(model.id.desc()).limit(1).scalar()
        if last - first + 1 != len(rows):
            raise Failure(f"{model.__name__} ids were not consecutive ({first}..{last} for {len(rows)} rows)")
        return first


def percentiles(samples: list[float]) -> tuple[float, float]:
    """p50 and p95 in milliseconds."""
    ordered = sorted(samples)
    return statistics.median(ordered) * 1000, ordered[max(0, int(round(len(ordered) * 0.95)) - 1)] * 1000


class Deployment:
    """A data directory, a database (SQLite file or a PostgreSQL database), the app and the bench workspace."""

    def __init__(self, backend: str, args):
        self.backend, self.args = backend, args
        self.tmp = Path(tempfile.mkdtemp(prefix=f"herald-scale-{backend}-"))
        if backend == "sqlite":
            self.database_url = f"sqlite:///{self.tmp / 'herald.db'}"
        else:
            self._recreate_pg()
            self.database_url = args.postgres.rsplit("/", 1)[0] + f"/{PG_DATABASE}"
        self.env = dict(os.environ, HERALD_DATA_DIR=str(self.tmp), HERALD_DATABASE_URL=self.database_url,
                        HERALD_REDIS_URL=args.redis_url, HERALD_SECRET_KEY=SECRET,
                        HERALD_RATE_LIMIT="100000000/minute", HERALD_PORTAL_RATE_LIMIT="100000000/minute")
        self.herald("init-db")
        from herald import derived
        from herald.auth import create_api_key
        from herald.config import Config
        from herald.db import models
        from herald.web.app import create_app
        config = Config(data_dir=self.tmp, database_url=self.database_url, redis_url=args.redis_url,
                        secret_key=SECRET, rate_limit="100000000/minute", portal_rate_limit="100000000/minute")
        self.app = create_app(config)
        self.models = models
        self.context = self.app.app_context()
        self.context.push()
        models.db.connect(reuse_if_open=True)
        workspace = models.Workspace.create(name="Scale Agency", plan="pro")
        _, self.key = create_api_key(workspace, name="bench")
        clients, accounts = [], {}
        for number in range(CLIENTS):
            client = models.Client.create(workspace=workspace, name=f"Client {number + 1}",
                                          brand_voice="Warm, concise, practical.")
            clients.append(client.id)
            accounts[client.id] = []
            for platform in ("instagram", "facebook"):
                account = models.Account.create(workspace=workspace, platform=platform,
                                                external_id=f"{platform}-{client.id}", username=f"client{client.id}",
                                                token_encrypted="x")
                accounts[client.id].append((account.id, platform))
        self.client_ids = clients
        self.loader = Loader(models, derived, models.db, workspace.id, clients, accounts, backend == "postgres")

    def _recreate_pg(self, create: bool = True) -> None:
        import psycopg2
        connection = psycopg2.connect(self.args.postgres, connect_timeout=3)
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS {PG_DATABASE} WITH (FORCE)")
            if create:
                cursor.execute(f"CREATE DATABASE {PG_DATABASE}")
        connection.close()

    def herald(self, *command: str) -> str:
        """Run a ``herald`` command on this deployment; returns its output."""
        done = subprocess.run([str(BIN / "herald"), *command], env=self.env, cwd=ROOT, capture_output=True, text=True)
        if done.returncode:
            raise Failure(f"herald {' '.join(command)} failed:\n{done.stdout}{done.stderr}")
        return done.stdout

    def analyze(self) -> float:
        """``ANALYZE`` the database after a load (unless ``--no-analyze``); returns seconds."""
        started = time.perf_counter()
        if self.args.analyze:
            self.models.db.execute_sql("ANALYZE")
        return time.perf_counter() - started

    def state(self) -> dict:
        """What a :class:`Reader` in another process needs to read this deployment."""
        return {"env": {name: value for name, value in self.env.items() if name.startswith("HERALD_")},
                "key": self.key, "clients": self.client_ids}

    def measure(self, size: int) -> dict[str, tuple]:
        """Every read at the current size (see :class:`Reader`), in a Python process of its own: the reads
        are the API's as a server process runs them, not a process that has just generated and inserted a
        million rows (whose heap made reads of 1-2 ms up to twice as slow: 2026-12-07, SQLite 1M, score 1.6
        ms in a fresh process, 3.9 in the loading one)."""
        done = subprocess.run([sys.executable, __file__, "--read", json.dumps(self.state()), "--size", str(size),
                               "--repeat", str(self.args.repeat), "--warmup", str(self.args.warmup),
                               "--deep-page", str(self.args.deep_page), "--redis-url", self.args.redis_url,
                               *(["--skip-archive"] if self.args.skip_archive else [])],
                              cwd=ROOT, capture_output=True, text=True)
        if done.returncode:
            raise Failure(f"reading at {size:,} posts failed:\n{done.stdout[-2000:]}{done.stderr[-3000:]}")
        return {label: tuple(figure) for label, figure in json.loads(done.stdout.splitlines()[-1]).items()}

    def close(self) -> None:
        self.models.db.close()
        self.context.pop()
        shutil.rmtree(self.tmp, ignore_errors=True)
        if self.backend == "postgres":
            self._recreate_pg(create=False)


class Reader:
    """The reads of a deployment (:meth:`Deployment.state`), through the WSGI app of this process."""

    def __init__(self, state: dict, args):
        from herald.cli import freeze_start_up
        from herald.config import Config
        from herald.db import models
        from herald.web.app import create_app
        self.args, self.key, self.client_ids = args, state["key"], state["clients"]
        self.env = dict(os.environ, **state["env"])
        config = Config.from_env(self.env)
        self.app = create_app(config)
        freeze_start_up()  # as each process of herald serve does once its app is made
        self.models = models
        self.context = self.app.app_context()
        self.context.push()
        models.db.connect(reuse_if_open=True)
        self.http = self.app.test_client()
        self.portal = None

    def request(self, method: str, path: str, body) -> tuple[int, bytes]:
        headers = {"X-API-Key": self.key}
        if body is None:
            response = self.http.open(path, method=method, headers=headers)
        else:
            response = self.http.open(path, method=method, headers=headers, json=body)
        return response.status_code, response.get_data()

    def fill(self, template, values: dict):
        if isinstance(template, dict):
            return {key: self.fill(value, values) for key, value in template.items()}
        if isinstance(template, str):
            filled = template.format(**values)
            return int(filled) if filled.isdigit() and template.startswith("{") else filled
        return template

    def measure(self, size: int) -> dict[str, str]:
        """Every read at the current size: label -> "p50/p95" (ms) and the exports' figures."""
        m = self.models
        newest = m.Post.select(m.Post.id).order_by(m.Post.id.desc()).limit(1).scalar()
        values = {"client": self.client_ids[0], "small": self.client_ids[1], "deep_id": newest - size // 2,
                  "deep_page": self.args.deep_page, "portal": self._portal_token()}
        published = (m.Post.select(m.Post.id).where((m.Post.client == self.client_ids[0])
                                                    & (m.Post.status == "published"))
                     .order_by(m.Post.id.desc()).limit(1).scalar())
        figures = {}
        for label, method, template, body in READS:
            path, filled = self.fill(template, values), self.fill(body, values)
            samples = []
            for attempt in range(self.args.warmup + self.args.repeat):
                if label in AFTER_WRITE:
                    status, data = self.request("POST", "/api/intelligence/engagement",
                                                {"post_id": published, "likes": 40 + attempt, "reach": 1000})
                    if status != 201:
                        raise Failure(f"{label}: the engagement snapshot answered {status}: {data[:300]!r}")
                started = time.perf_counter()
                status, data = self.request(method, path, filled)
                elapsed = time.perf_counter() - started
                if status >= 400:
                    raise Failure(f"{label}: {method} {path} answered {status}: {data[:300]!r}")
                if attempt >= self.args.warmup:
                    samples.append(elapsed)
            p50, p95 = percentiles(samples)
            figures[label] = (p50, p95)
        figures["CSV export job (one client)"] = self._csv_export(values["small"])
        figures["CSV export job (the big client)"] = self._csv_export(values["client"])
        if not self.args.skip_archive:
            figures["GDPR archive job"] = self._archive()
        return figures

    def _portal_token(self) -> str:
        """The token of an ``approve`` portal link for the big client (made once, through the API)."""
        if self.portal is None:
            status, data = self.request("POST", "/api/client-portal/create-token",
                                        {"client_id": self.client_ids[0], "permissions": "approve"})
            if status != 201:
                raise Failure(f"creating a portal link answered {status}: {data[:300]!r}")
            self.portal = json.loads(data)["url"].rsplit("/portal/", 1)[1]
        return self.portal

    def _csv_export(self, client_id: int) -> tuple[float, float, float, float, float]:
        return self._export_job(f"/api/export/posts?client_id={client_id}&job=true")

    def _archive(self) -> tuple[float, float, float, float, float]:
        return self._export_job("/api/account/export?job=true")

    def _export_job(self, path: str) -> tuple[float, float, float, float, float]:
        """Run an export as the job it is at scale, in a ``herald worker --burst`` process, while this process
        reads ``GET /v1/posts`` every 50 ms: (rows per second, rows, the worker's peak RSS in MB, API p95 in ms
        meanwhile, rows per second of the job alone). The first rate runs from the worker's start to the
        job's end (worker start-up included); the last from the job's start to its end as the job's row
        records them."""
        status, data = self.request("GET", path, None)
        if status != 202:
            raise Failure(f"{path} answered {status}, not 202 with a job: {data[:300]!r}")
        job_id = json.loads(data)["job"]["id"]
        with tempfile.TemporaryFile(mode="w+") as errors:
            started = time.perf_counter()
            worker = subprocess.Popen([str(BIN / "herald"), "worker", "--burst"], env=self.env, cwd=ROOT,
                                      stdout=subprocess.DEVNULL, stderr=errors, text=True)
            api, ended = [], 0
            while True:
                began = time.perf_counter()
                self.request("GET", "/v1/posts", None)
                api.append(time.perf_counter() - began)
                job = json.loads(self.request("GET", f"/api/jobs/{job_id}", None)[1])["job"]
                if job["status"] in ("succeeded", "failed"):
                    break
                # the worker's own resource usage (its peak memory) comes with its exit status: reaped here
                # only, never by Popen.poll, which would take both
                ended, wait_status, usage = os.wait4(worker.pid, os.WNOHANG)
                if ended:
                    break
                time.sleep(0.05)
            elapsed = time.perf_counter() - started
            if not ended:
                _, wait_status, usage = os.wait4(worker.pid, 0)
            worker.returncode = os.waitstatus_to_exitcode(wait_status)  # reaped here, so Popen must not wait again
            if job["status"] != "succeeded":
                job = json.loads(self.request("GET", f"/api/jobs/{job_id}", None)[1])["job"]
            if job["status"] != "succeeded":
                errors.seek(0)
                raise Failure(f"export job {job_id} ended {job['status']}: {job.get('error')}\n{errors.read()[-2000:]}")
        download = self.http.get(job["result"]["download_url"], headers={"X-API-Key": self.key})
        if download.status_code != 200:
            raise Failure(f"the export's link answered {download.status_code}")
        download.close()
        rows = job["result"]["rows"]
        row = self.models.BackgroundJob.get_by_id(job_id)
        alone = (row.finished_at - row.started_at).total_seconds()
        return rows / elapsed, rows, usage.ru_maxrss / 1024, percentiles(api)[1], rows / max(alone, 1e-6)

    def close(self) -> None:
        self.models.db.close()
        self.context.pop()


def postgres_answers(url: str) -> bool:
    try:
        import psycopg2
        psycopg2.connect(url, connect_timeout=3).close()
        return True
    except Exception:  # noqa: BLE001 - any failure means "skip PostgreSQL"
        return False


def run_backend(backend: str, args, sizes: list[int]) -> dict[int, dict]:
    """Grow one deployment through ``sizes``; returns size -> figures."""
    deployment = Deployment(backend, args)
    results = {}
    try:
        for size in sizes:
            loaded, rebuilt = deployment.loader.grow_to(size)
            rebuilt += deployment.analyze()
            print(f"# {backend}: {size:,} posts loaded (+{loaded:.0f} s, derived data {rebuilt:.1f} s)", flush=True)
            results[size] = deployment.measure(size)
            for label, figure in results[size].items():
                print(f"#   {label}: {format_figure(label, figure)}", flush=True)
    finally:
        deployment.close()
    return results


def format_figure(label: str, figure) -> str:
    if label.startswith(("CSV", "GDPR")):
        rate, rows, peak_mb, api_p95, alone = figure
        return (f"{rows / rate:.1f} s, {rate:,.0f} rows/s ({rows:,} rows; the job alone {rows / alone:.1f} s, "
                f"{alone:,.0f} rows/s; worker peak {peak_mb:.0f} MB, API p95 {api_p95:.0f} ms meanwhile)")
    return f"{figure[0]:,.0f}/{figure[1]:,.0f}"


def print_table(all_results: dict[str, dict[int, dict]], sizes: list[int]) -> None:
    backends = list(all_results)
    header = ["read"] + [f"{backend} {size // 1000}k" for backend in backends for size in sizes]
    header += [f"{backend} growth" for backend in backends]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    labels = list(next(iter(next(iter(all_results.values())).values())))
    for label in labels:
        cells = [label]
        for backend in backends:
            cells += [format_figure(label, all_results[backend][size][label]) for size in sizes]
        for backend in backends:
            first, last = all_results[backend][sizes[0]][label], all_results[backend][sizes[-1]][label]
            # exports: rows per second falling is the cost growing; the reads compare p95
            growth = first[0] / last[0] if label.startswith(("CSV", "GDPR")) else last[1] / max(first[1], 1e-9)
            cells.append(f"{growth:.1f}x")
        print("| " + " | ".join(cells) + " |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000", help="post counts to measure at, ascending")
    parser.add_argument("--full", action="store_true", help="also measure at 1,000,000 posts")
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/13")
    parser.add_argument("--repeat", type=int, default=40, help="timed requests per read")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--deep-page", type=int, default=50, help="the page number of the deep page= read")
    parser.add_argument("--skip-archive", action="store_true", help="do not time the GDPR archive")
    parser.add_argument("--no-analyze", dest="analyze", action="store_false",
                        help="do not run ANALYZE after loading (the planner then guesses)")
    parser.add_argument("--read", metavar="STATE", help=argparse.SUPPRESS)  # a Reader's run (see Deployment.measure)
    parser.add_argument("--size", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.read:
        sys.path.insert(0, str(ROOT / "core"))
        reader = Reader(json.loads(args.read), args)
        try:
            figures = reader.measure(args.size)
        except Failure as failure:
            print(f"FAILED: {failure}", file=sys.stderr)
            return 1
        finally:
            reader.close()
        print(json.dumps(figures))
        return 0
    sizes = sorted({int(size) for size in args.sizes.split(",")} | ({1_000_000} if args.full else set()))
    backends = ["sqlite", "postgres"] if args.db == "both" else [args.db]
    if "postgres" in backends and not postgres_answers(args.postgres):
        print(f"# PostgreSQL does not answer at {args.postgres}: its columns are skipped")
        backends.remove("postgres")
    sys.path.insert(0, str(ROOT / "core"))
    all_results = {}
    try:
        for backend in backends:
            all_results[backend] = run_backend(backend, args, sizes)
    except Failure as failure:
        print(f"FAILED: {failure}", file=sys.stderr)
        return 1
    print(f"\nHerald at scale, {dt.date.today().isoformat()}: p50/p95 in ms "
          f"({args.repeat} requests after {args.warmup} warm-up, WSGI in a reading process)\n")
    print_table(all_results, sizes)
    print("\n" + json.dumps({backend: {str(size): {label: list(figure) for label, figure in figures.items()}
                                       for size, figures in results.items()}
                             for backend, results in all_results.items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
