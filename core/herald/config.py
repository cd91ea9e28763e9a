"""Settings, read once from ``HERALD_*`` environment variables into one dataclass.

Code receives a :class:`Config`; nothing outside this module reads ``os.environ``.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

DEFAULT_RATE_LIMIT = "200/minute"
DEFAULT_LOGIN_RATE_LIMIT = "10/minute"
DEFAULT_AUTH_FAILURE_LIMIT = "30/minute"
DEFAULT_PORTAL_RATE_LIMIT = "60/minute"
MAX_UPLOAD_BYTES = 50 * 1024 * 1024


def _flag(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


def _whole_number(name: str, value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = -1
    if number < 0:
        raise ValueError(f"{name} must be a whole number of 0 or more, not {value!r}.")
    return number


WORKER_CLASSES = ("simple", "fork")


def _worker_class(value: str) -> str:
    value = value.strip().lower()
    if value not in WORKER_CLASSES:
        raise ValueError(f"HERALD_WORKER_CLASS must be one of {', '.join(WORKER_CLASSES)}, not {value!r}.")
    return value


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def _log_level(name: str, value: str) -> str:
    level = value.strip().upper()
    if level not in LOG_LEVELS:
        raise ValueError(f"{name} must be one of {', '.join(LOG_LEVELS)}, not {value!r}.")
    return level


# Settings Herald no longer reads, and what took their place. One still set is reported when a
# process starts (herald.logs.configure) rather than ignored in silence: its operator would
# believe it still applies.
REMOVED_SETTINGS = {
    "HERALD_TASK_LEASE_SECONDS": "leases are per work kind now, fixed when the kind is registered "
                                 "(publish tasks: 60 s, with a 50 s job timeout)",
}


def _check_media_store(value: str | None) -> None:
    """Refuse a ``HERALD_MEDIA_STORE`` that is not an ``s3://bucket[/prefix]`` URL."""
    parts = urlsplit(value or "")
    if value and (parts.scheme != "s3" or not parts.netloc or parts.query or parts.fragment):
        raise ValueError(f"HERALD_MEDIA_STORE must be s3://bucket or s3://bucket/prefix (unset: "
                         f"HERALD_DATA_DIR/media), not {value!r}")


def _csv(value: str | None) -> tuple[str, ...] | None:
    if value is None or not value.strip():
        return None
    return tuple(part.strip() for part in value.split(",") if part.strip())


@dataclasses.dataclass(frozen=True)
class Config:
    """Every setting Herald reads. Build one with :meth:`Config.from_env` or directly in tests."""

    data_dir: Path = Path("var")
    database_url: str | None = None
    redis_url: str = "redis://127.0.0.1:6379/0"
    secret_key: str | None = None
    port: int = 5000
    public_url: str | None = None
    # Origins (besides HERALD_PUBLIC_URL's) the OAuth callback may send the browser back to.
    oauth_redirect_allowlist: tuple[str, ...] = ()
    rate_limit: str = DEFAULT_RATE_LIMIT
    login_rate_limit: str = DEFAULT_LOGIN_RATE_LIMIT
    # Failed authentications (401) per client address before requests from it that carry no valid
    # credentials are answered 429: the per-key limit cannot stop a client presenting a new key each time.
    auth_failure_limit: str = DEFAULT_AUTH_FAILURE_LIMIT
    # How many reverse proxies in front of Herald set X-Forwarded-For/-Proto/-Host. 0 ignores those
    # headers: trusting them without a proxy would let any client pick the address its limits count on.
    trusted_proxies: int = 0
    # Requests per client portal link (page views and form posts), on top of the per-address limit.
    portal_rate_limit: str = DEFAULT_PORTAL_RATE_LIMIT
    plugins: tuple[str, ...] | None = None
    # The AI provider (by its name) when several are loaded; None: the only one, else the first by name.
    ai_provider: str | None = None
    trace_plugins: bool = False
    webhook_allow_private: bool = False
    # Lets competitor-page and media URL fetches reach loopback and private addresses (tests, closed networks).
    fetch_allow_private: bool = False
    # Where media files live: None for HERALD_DATA_DIR/media, or s3://bucket/prefix (herald.media.s3).
    media_store: str | None = None
    # The S3-compatible service's address when it is not AWS (MinIO, R2, …); None: boto3's default.
    s3_endpoint_url: str | None = None
    # How long downloading one media URL may take, redirects included (POST /api/media with a URL).
    media_fetch_timeout_seconds: float = 60.0
    insecure_cookies: bool = False
    database_group_readable: bool = False  # SQLite files 0640 instead of 0600
    max_upload_bytes: int = MAX_UPLOAD_BYTES
    # How long a resolved API key is trusted from the per-process cache before the
    # database is asked again. Revocation through Herald clears the local cache at once;
    # other processes see it within this many seconds.
    key_cache_seconds: float = 5.0
    # How long a write waits for another writer before it gives up with 503 database_unavailable
    # (SQLite: its busy handler and Herald's write lock alike).
    database_busy_timeout_seconds: float = 10.0
    # How often the reconciler re-enqueues tasks whose jobs were lost, and re-checks token health.
    reconcile_interval_seconds: int = 30
    # How long before its due time a row of durable work (a scheduled post's task) is handed to RQ.
    # Work due later stays in the database only (Redis holds what is due soon, however far ahead
    # posts are scheduled); the reconciler hands it over as it enters this window, so the window must
    # be longer than the reconciler's interval (checked when the config is made).
    schedule_lookahead_seconds: int = 300
    token_check_interval_seconds: int = 6 * 3600
    # How often herald cron checks every family of derived data (post counters, daily figures, intelligence
    # revisions: herald.derived) against a recomputation and for missing triggers, and repairs what differs.
    derived_check_interval_seconds: int = 24 * 3600
    # How often herald cron computes again the stored intelligence results of clients whose data changed
    # since they were read (herald.chores.refresh_intelligence), so their next read is a lookup.
    intelligence_refresh_interval_seconds: int = 60
    # How many analysed posts each process holds for the intelligence reads (herald.intelligence.items):
    # a read after a write then loads only the posts that changed. About 5 KB a post; 0 holds nothing.
    intelligence_cache_posts: int = 20_000
    # "simple": jobs run in the worker process (RQ SimpleWorker); "fork": each job in a forked
    # work-horse (RQ Worker). Herald's jobs are short network calls whose failures are already
    # contained (leases, reconciler), and a fork costs about 20 ms, more than a publish step.
    worker_class: str = "simple"
    # How often each worker writes its heartbeat; /health counts a worker dead after 3 missed beats.
    worker_heartbeat_seconds: float = 5.0
    # The scheduled pull of engagement from the platforms: how often, and for posts published how
    # many days back (older posts hardly change, and every post costs platform API calls).
    engagement_pull_interval_seconds: int = 3 * 3600
    engagement_pull_days: int = 30
    # Exports (posts CSV, a client's export, the GDPR archive) of more posts than this run as background
    # jobs: the request answers 202 with the job, and the file is downloaded from a signed link.
    export_sync_limit: int = 10_000
    # How long an export job's download link (and its file) lasts.
    export_link_hours: int = 24
    # Console logging of the herald processes: Herald's own loggers (``herald.*``, the web server's
    # start-up lines) and RQ's, whose INFO lines (several per job, a job every 30 s) would bury the rest.
    log_level: str = "INFO"
    rq_log_level: str = "WARNING"
    testing: bool = False
    removed_settings: tuple[str, ...] = ()  # REMOVED_SETTINGS found set in the environment
    # Plugins' settings (herald.settings.Setting, by name) given directly, as tests do; they win over
    # the environment. Plugins read theirs with Setting.value(config).
    plugin_settings: Mapping[str, Any] = dataclasses.field(default_factory=dict, hash=False)
    # The HERALD_* variables from_env read, where plugins' settings are looked up.
    environment: Mapping[str, str] = dataclasses.field(default_factory=dict, hash=False, repr=False)

    def __post_init__(self):
        if self.schedule_lookahead_seconds <= self.reconcile_interval_seconds:
            raise ValueError(f"HERALD_SCHEDULE_LOOKAHEAD_SECONDS ({self.schedule_lookahead_seconds}) must be longer "
                             f"than the reconciler's interval ({self.reconcile_interval_seconds} s): scheduled work "
                             "is handed to RQ by the reconciler as it enters that window.")
        if self.intelligence_refresh_interval_seconds < 1:
            raise ValueError("HERALD_INTELLIGENCE_REFRESH_INTERVAL_SECONDS must be 1 or more.")
        if self.derived_check_interval_seconds < 60:  # each check recounts every post: never back to back
            raise ValueError(f"HERALD_DERIVED_CHECK_INTERVAL_SECONDS ({self.derived_check_interval_seconds}) must be "
                             "60 or more.")

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides) -> Config:
        """Read the ``HERALD_*`` variables (or ``environ`` when given); ``overrides`` win."""
        env = os.environ if environ is None else environ
        values: dict = {}
        if env.get("HERALD_DATA_DIR"):
            values["data_dir"] = Path(env["HERALD_DATA_DIR"])
        simple = {
            "HERALD_DATABASE_URL": "database_url",
            "HERALD_REDIS_URL": "redis_url",
            "HERALD_SECRET_KEY": "secret_key",
            "HERALD_PUBLIC_URL": "public_url",
            "HERALD_RATE_LIMIT": "rate_limit",
            "HERALD_LOGIN_RATE_LIMIT": "login_rate_limit",
            "HERALD_AUTH_FAILURE_LIMIT": "auth_failure_limit",
            "HERALD_PORTAL_RATE_LIMIT": "portal_rate_limit",
            "HERALD_AI_PROVIDER": "ai_provider",
            "HERALD_MEDIA_STORE": "media_store",
            "HERALD_S3_ENDPOINT_URL": "s3_endpoint_url",
        }
        for name, field in simple.items():
            if env.get(name):
                values[field] = env[name]
        if env.get("HERALD_PORT"):
            values["port"] = int(env["HERALD_PORT"])
        if env.get("HERALD_TRUSTED_PROXIES"):
            values["trusted_proxies"] = _whole_number("HERALD_TRUSTED_PROXIES", env["HERALD_TRUSTED_PROXIES"])
        if env.get("HERALD_DATABASE_BUSY_TIMEOUT_SECONDS"):
            values["database_busy_timeout_seconds"] = float(env["HERALD_DATABASE_BUSY_TIMEOUT_SECONDS"])
        if env.get("HERALD_WORKER_HEARTBEAT_SECONDS"):
            values["worker_heartbeat_seconds"] = float(env["HERALD_WORKER_HEARTBEAT_SECONDS"])
        if env.get("HERALD_WORKER_CLASS"):
            values["worker_class"] = _worker_class(env["HERALD_WORKER_CLASS"])
        if env.get("HERALD_SCHEDULE_LOOKAHEAD_SECONDS"):
            values["schedule_lookahead_seconds"] = _whole_number("HERALD_SCHEDULE_LOOKAHEAD_SECONDS",
                                                                 env["HERALD_SCHEDULE_LOOKAHEAD_SECONDS"])
        if env.get("HERALD_ENGAGEMENT_PULL_DAYS"):
            values["engagement_pull_days"] = _whole_number("HERALD_ENGAGEMENT_PULL_DAYS",
                                                           env["HERALD_ENGAGEMENT_PULL_DAYS"])
        for name, field in (("HERALD_EXPORT_SYNC_LIMIT", "export_sync_limit"),
                            ("HERALD_EXPORT_LINK_HOURS", "export_link_hours"),
                            ("HERALD_DERIVED_CHECK_INTERVAL_SECONDS", "derived_check_interval_seconds"),
                            ("HERALD_INTELLIGENCE_REFRESH_INTERVAL_SECONDS", "intelligence_refresh_interval_seconds"),
                            ("HERALD_INTELLIGENCE_CACHE_POSTS", "intelligence_cache_posts")):
            if env.get(name):
                values[field] = _whole_number(name, env[name])
        for name, field in (("HERALD_LOG_LEVEL", "log_level"), ("HERALD_RQ_LOG_LEVEL", "rq_log_level")):
            if env.get(name):
                values[field] = _log_level(name, env[name])
        if env.get("HERALD_KEY_CACHE_SECONDS"):
            values["key_cache_seconds"] = float(env["HERALD_KEY_CACHE_SECONDS"])
        values["plugins"] = _csv(env.get("HERALD_PLUGINS"))
        values["oauth_redirect_allowlist"] = _csv(env.get("HERALD_OAUTH_REDIRECT_ALLOWLIST")) or ()
        values["trace_plugins"] = _flag(env.get("HERALD_TRACE_PLUGINS"))
        values["webhook_allow_private"] = _flag(env.get("HERALD_WEBHOOK_ALLOW_PRIVATE"))
        values["fetch_allow_private"] = _flag(env.get("HERALD_FETCH_ALLOW_PRIVATE"))
        values["insecure_cookies"] = _flag(env.get("HERALD_INSECURE_COOKIES"))
        values["database_group_readable"] = _flag(env.get("HERALD_DATABASE_GROUP_READABLE"))
        values["removed_settings"] = tuple(name for name in REMOVED_SETTINGS if env.get(name))
        values["environment"] = {name: value for name, value in env.items() if name.startswith("HERALD_")}
        values.update(overrides)
        _check_media_store(values.get("media_store"))
        return cls(**values)

    def with_settings(self, **values: Any) -> Config:
        """This config with plugins' settings (by :attr:`herald.settings.Setting.name`) set to ``values``."""
        return dataclasses.replace(self, plugin_settings={**self.plugin_settings, **values})

    def removed_setting_warnings(self) -> list[str]:
        """One sentence for each removed setting still set: that it is ignored, and what replaced it."""
        return [f"{name} is set but Herald no longer reads it: {REMOVED_SETTINGS[name]}. Remove it."
                for name in self.removed_settings]

    @property
    def resolved_database_url(self) -> str:
        """The database URL, defaulting to the SQLite file ``<data_dir>/herald.db``."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'herald.db').resolve()}"

    @property
    def media_dir(self) -> Path:
        """This machine's media directory: the files themselves unless ``HERALD_MEDIA_STORE`` is set, and
        uploads on their way in (``tmp/``) either way."""
        return self.data_dir / "media"

    def resolved_secret_key(self) -> str:
        """``HERALD_SECRET_KEY``, or a random key generated once and kept in ``<data_dir>/secret_key``.

        Keeping the generated key on disk means sessions and encrypted values survive a restart
        of a self-hosted install that never set the variable. The file is read once per process
        (every token decryption asks for the key).
        """
        return self.secret_key or _stored_secret_key(self.data_dir.resolve())


@functools.lru_cache(maxsize=16)
def _stored_secret_key(data_dir: Path) -> str:
    path = data_dir / "secret_key"
    if path.exists():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    # Write to a private temporary file, then link it into place: the link either wins
    # atomically or finds another process's complete key.
    tmp = data_dir / f".secret_key.{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(secrets.token_urlsafe(48))
    try:
        os.link(tmp, path)
    except FileExistsError:
        pass
    finally:
        tmp.unlink()
    return path.read_text().strip()
