"""Keeping tokens alive: a connected account's access token is refreshed before it runs out.

A refresh is a work row of its own (:class:`herald.db.models.TokenRefresh`, kind ``token_refresh`` of
:mod:`herald.work`). The token health check (``herald cron``, every 6 hours) requests one for every
active account whose token expires within :data:`herald.publishing.accounts.REFRESH_WITHIN_DAYS` on a
platform that can refresh tokens (``refresh_token``); ``herald accounts refresh`` requests one now and
runs its first attempt in the console. Its ``status``::

    queued ──claim──▶ running ──▶ done          (the new token is stored, encrypted, with its expiry)
       ▲                 ├──▶ failed            (the platform refused; out of attempts)
       └──(retry)────────┘                      (the platform could not answer: the kernel's backoff)

A failure that passes (Meta down, code 1/2, a rate limit) is tried again by the work kernel's retry
policy and the account stays ``active``. A refusal is final for this refresh: the account's token
is then checked at once (``token_health``), and one that no longer works marks the account
``expired``/``invalid`` with ``account.needs_reconnect``, as the health check does; one that still
works (Meta refuses to refresh a token less than a day old) leaves the account as it was, and the
next check tries again. At most one refresh per account is under way at a time.
"""

from __future__ import annotations

import datetime as dt
import logging

from .. import crypto, events, work
from ..capabilities import provided
from ..db.models import Account, TokenRefresh, isoformat, write_transaction
from ..platforms import PlatformRejected, PlatformUnavailable, RefreshedToken
from ..runtime import Runtime
from ..work import Outcome, RetryPolicy, Statuses, WorkKind
from . import accounts

log = logging.getLogger("herald.publishing.token_refresh")

KIND_NAME = "token_refresh"
STATUSES = Statuses()  # queued, running, retrying, done, failed, unconfirmed, cancelled
# Backoff from a minute up to an hour, six attempts: a Meta outage of a few hours is ridden out, and
# the next health check (6 hours later) starts a new refresh if this one gives up.
RETRY = RetryPolicy(base=60.0, cap=3600.0, max_attempts=6)
JOB_TIMEOUT_SECONDS = 60
LEASE_SECONDS = 300.0


def can_refresh(runtime: Runtime, account: Account) -> bool:
    """Whether ``account``'s platform refreshes tokens (``refresh_token``)."""
    return accounts.renews_tokens(runtime, account)


def is_due(runtime: Runtime, account: Account, now: dt.datetime | None = None) -> bool:
    """Whether ``account``'s token should be refreshed now: the account is active, its platform can
    refresh it, and it expires (not yet expired) within :data:`accounts.REFRESH_WITHIN_DAYS`."""
    now = now or runtime.clock.now()
    expires = account.token_expires_at
    return (account.status == "active" and expires is not None and now < expires
            and expires - now <= dt.timedelta(days=accounts.REFRESH_WITHIN_DAYS) and can_refresh(runtime, account))


def under_way(account: Account) -> TokenRefresh | None:
    """The account's refresh that is not finished, if any."""
    return (TokenRefresh.select()
            .where((TokenRefresh.account == account.id) & TokenRefresh.status.in_(list(STATUSES.active)))
            .order_by(TokenRefresh.id.desc()).first())


def request(runtime: Runtime, account: Account, *, enqueue: bool = True) -> TokenRefresh:
    """A refresh of ``account``'s token: the one under way, else a new one due now (its job enqueued
    after the commit, unless ``enqueue`` is false: the caller runs it)."""
    with write_transaction():
        row = under_way(account)
        if row is None:
            now = runtime.clock.now()
            row = TokenRefresh.create(account=account.id, workspace=account.workspace_id, status=STATUSES.queued,
                                      due_at=now, created_at=now, updated_at=now)
            created = True
        else:
            created = False
    if created and enqueue:
        work.enqueue(runtime, KIND, row)
    return row


def request_if_due(runtime: Runtime, account: Account) -> TokenRefresh | None:
    """:func:`request` when :func:`is_due`; None otherwise (what the health check calls)."""
    return request(runtime, account) if is_due(runtime, account) else None


def run_now(runtime: Runtime, account: Account) -> TokenRefresh:
    """Request a refresh of ``account`` and make its attempt now, in this process (``herald accounts
    refresh``); the row as it ends up. A refresh waiting for its next retry is moved to now first;
    one a worker holds is left to it. A retry after a passing failure gets its job as usual."""
    row = request(runtime, account, enqueue=False)
    now = runtime.clock.now()
    if row.status in STATUSES.runnable and row.due_at is not None and row.due_at > now:
        with write_transaction():
            work.move(runtime, KIND, row, due_at=now)
    work.perform(runtime, KIND_NAME, row.id, row.step)
    return TokenRefresh.get_by_id(row.id)


def refresh(runtime: Runtime, row: TokenRefresh, mode: str) -> Outcome:
    """The kind's handler: ask the platform for a new token and store it.

    Also the recovery of a refresh whose worker died: asking again is harmless (the stored token,
    old or new, still works).
    """
    account = Account.get_or_none(Account.id == row.account_id)
    if account is None or account.status != "active":
        return Outcome.cancelled("The account is no longer active: reconnect it instead.")
    platform = accounts.platform_of(runtime, account)
    ask = provided(platform, "refresh_token")
    if ask is None:
        return Outcome.cancelled(f"The {account.platform} plugin does not refresh tokens (any more).")
    token, problem = accounts.usable(runtime, account)
    if token is None:
        return Outcome.failed(problem)
    try:
        fresh = ask(accounts.account_ref(runtime, account, token), config=runtime.config)
    except PlatformUnavailable as exc:
        log.info("the token of account %s was not refreshed, tried again later: %s", account.id, exc.message)
        return Outcome.retry(f"{account.platform} could not be reached: {exc.message}", exc.retry_after)
    except PlatformRejected as exc:
        return Outcome.failed(_refused(runtime, account, exc.message))
    if fresh is None:
        return Outcome.cancelled(f"{account.platform} does not refresh this account's token (it need not be).")
    if not store(runtime, account, token, fresh):
        return Outcome.cancelled("The account was reconnected or disconnected meanwhile: its token stands.")
    return Outcome.done(error=None)


def _refused(runtime: Runtime, account: Account, message: str) -> str:
    """The error of a refresh the platform refused, after checking whether the token still works
    (one that does not marks the account, with ``account.needs_reconnect``)."""
    log.warning("%s refused to refresh the token of account %s: %s", account.platform, account.id, message)
    health = accounts.check_health(runtime, account)
    if health is not None and health.status != "active":
        return (f"{account.platform} refused to refresh the token ({message}), and the token no longer works: "
                "reconnect the account.")
    expires = isoformat(account.token_expires_at)
    return (f"{account.platform} refused to refresh the token ({message}). It still works until {expires}; "
            "the next token check tries again.")


def store(runtime: Runtime, account: Account, old_token: str, fresh: RefreshedToken) -> bool:
    """Store ``fresh`` (encrypted) and its expiry on ``account`` unless it was reconnected, disconnected or
    marked meanwhile; records ``account.token_refreshed``. False when nothing was stored."""
    now = runtime.clock.now()
    encrypted = crypto.encrypt(runtime.config.resolved_secret_key(), fresh.token)
    expires = _naive_utc(fresh.expires_at)
    with events.collecting() as recorded, write_transaction():
        changed = (Account.update(token_encrypted=encrypted, token_expires_at=expires, updated_at=now)
                   .where((Account.id == account.id) & (Account.token_encrypted == account.token_encrypted)
                          & (Account.status == "active"))
                   .execute())
        if changed:
            account.token_encrypted, account.token_expires_at, account.updated_at = encrypted, expires, now
            events.record(account.workspace_id, "account.token_refreshed",
                          {"account": accounts.serialize_account(account)})
    events.dispatch(runtime.pm, recorded)
    if changed:
        log.info("refreshed the token of account %s: it now expires at %s", account.id,
                 isoformat(expires) or "never")
    return bool(changed)


def _naive_utc(value: dt.datetime | None) -> dt.datetime | None:
    """A datetime as naive UTC (how times are stored)."""
    if value is not None and value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    return value


def _final_error(row: TokenRefresh, error: str, unsure: bool) -> str:
    """The error of a refresh the retry policy gave up on: the account stays as it is."""
    return f"{error} The token is unchanged; the next token check tries again."


def serialize_refresh(row: TokenRefresh) -> dict:
    """A refresh as the console shows it."""
    return {"id": row.id, "account_id": f"{accounts.ACCOUNT_PREFIX}{row.account_id}", "status": row.status,
            "attempts": row.attempts, "due_at": isoformat(row.due_at), "error": row.error}


KIND = WorkKind(name=KIND_NAME, model=TokenRefresh, run=refresh, job_timeout=JOB_TIMEOUT_SECONDS,
                lease_seconds=LEASE_SECONDS, retry=RETRY, statuses=STATUSES, error_field="error",
                final_error=_final_error)
