"""Connected social accounts: connecting with a token, token health, what platforms are handed."""

from __future__ import annotations

import datetime as dt
import logging
import re

from .. import crypto, events, ids
from ..capabilities import provided
from ..db.models import Account, isoformat, write_transaction
from ..errors import Conflict, HeraldError, NotFound, ValidationError, warning
from ..platforms import AccountRef, ConnectedAccount, PlatformRejected, PlatformUnavailable, TokenHealth
from ..runtime import Runtime

log = logging.getLogger("herald.publishing.accounts")

ACCOUNT_PREFIX = "acc_"
# account.token_expiring goes out this many days before an account's token expires.
TOKEN_WARNING_DAYS = 7
# The health check asks a platform that can refresh tokens for a new one this many days before
# the old one expires (Instagram Login tokens last 60 days; Meta refreshes those at least a day old).
REFRESH_WITHIN_DAYS = 30
# Seconds a client is told to wait when a platform it asked through Herald cannot answer, and says
# no wait of its own.
PLATFORM_RETRY_AFTER = 60


def parse_account_id(value, field: str = "account_id") -> int:
    """``"acc_12"`` (or ``12``) as 12; 404 naming ``field`` for anything else."""
    number = ids.parse_id(value, ACCOUNT_PREFIX)
    if number is None:
        raise NotFound(f"No account {value!r} in this workspace.", field=field)
    return number


def get_account(workspace_id: int, value, field: str = "account_id") -> Account:
    """The workspace's account ``value`` (``acc_12``); 404 naming ``field`` otherwise."""
    account = Account.get_or_none((Account.id == parse_account_id(value, field)) & (Account.workspace == workspace_id))
    if account is None:
        raise NotFound(f"No account {value!r} in this workspace.", field=field)
    return account


def _connect_details(platform, details: dict[str, str]) -> dict[str, str]:
    """``details`` checked against the fields the platform's connect flow declares (400 naming the field)."""
    flow = getattr(platform, "connect_flow", None)
    fields = {field.name: field for field in (flow.fields if flow else ())}
    for name in details:
        if name not in fields:
            expected = ", ".join(sorted(fields)) or "none"
            raise ValidationError(f"{platform.name} takes no connection detail {name!r} (it takes: {expected}).",
                                  field=f"details.{name}")
    for name, field in fields.items():
        value = str(details.get(name) or "").strip()
        if not value and not field.required:
            details.pop(name, None)
            continue
        if not value:
            raise ValidationError(f"Connecting a {platform.name} account needs {name}: {field.meaning}",
                                  field=f"details.{name}")
        if field.pattern and not re.fullmatch(field.pattern, value):
            raise ValidationError(f"{name} is not valid: {field.meaning}", field=f"details.{name}")
        details[name] = value
    return dict(details)


def connect(runtime: Runtime, workspace_id: int, platform_name: str, token: str,
            details: dict[str, str] | None = None) -> tuple[Account, bool]:
    """Check ``token`` with the platform and store the account (token encrypted); returns ``(account, created)``.

    ``details`` are the values of the fields the platform's connect flow declares (checked here:
    every declared field given, matching its pattern, and no other). Connecting an account that is
    already connected refreshes its token and marks it active.
    """
    registered = runtime.registry.platforms.get(platform_name)
    if registered is None:
        available = ", ".join(sorted(runtime.registry.platforms)) or "none installed"
        raise ValidationError(f"Unknown platform {platform_name!r}. Available: {available}.", field="platform")
    platform = registered.obj
    connect = provided(platform, "connect")
    if connect is None:
        raise ValidationError(f"The {platform_name} plugin cannot connect accounts with a token.", field="platform")
    details = _connect_details(platform, details or {})
    try:
        found = connect(token, config=runtime.config, details=details)
    except PlatformRejected as exc:
        raise ValidationError(exc.message, field=exc.field or "access_token") from None
    except PlatformUnavailable as exc:
        # Connecting happens now, not in a job: nothing will try again unless the client does.
        raise platform_unavailable(platform_name, exc, "so the account was not connected") from None
    except HeraldError:
        raise
    except Exception as exc:  # the plugin or the platform's answer broke: say so, not a bare 500
        raise platform_error(platform_name, exc, "so the account was not connected") from None
    return store(runtime, workspace_id, platform_name, found)


def store(runtime: Runtime, workspace_id: int, platform_name: str, found: ConnectedAccount) -> tuple[Account, bool]:
    """Keep the account ``found`` (by a pasted token or an OAuth login) in the workspace: a new row, or the
    existing one of the same platform and external id with the new token, so the account keeps its
    id, history and queued posts. A refresh token already stored is kept when ``found`` has none.
    Returns ``(account, created)``.
    """
    now = runtime.clock.now()
    key = runtime.config.resolved_secret_key()
    encrypted = crypto.encrypt(key, found.token)
    with write_transaction():
        account = Account.get_or_none((Account.workspace == workspace_id) & (Account.platform == platform_name)
                                      & (Account.external_id == found.external_id))
        created = account is None
        if created:
            account = Account(workspace=workspace_id, platform=platform_name, external_id=found.external_id,
                              created_at=now)
        account.username = found.username
        account.token_encrypted = encrypted
        if found.refresh_token:  # never throw away a working refresh token for an empty one
            account.refresh_token_encrypted = crypto.encrypt(key, found.refresh_token)
        account.token_expires_at = _naive(found.token_expires_at)
        account.settings = dict(found.settings)
        account.status = "active"
        account.status_reason = ""
        account.checked_at = now
        account.updated_at = now
        account.save()
    return account, created


def _naive(value: dt.datetime | None) -> dt.datetime | None:
    """A datetime as naive UTC (how times are stored)."""
    if value is not None and value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    return value


def token_of(runtime: Runtime, account: Account) -> str | None:
    """The decrypted access token, or None when it cannot be read (the secret key changed)."""
    try:
        return crypto.decrypt(runtime.config.resolved_secret_key(), account.token_encrypted)
    except crypto.InvalidToken:
        return None


def account_ref(runtime: Runtime, account: Account, token: str) -> AccountRef:
    """What a platform is handed for ``account``."""
    return AccountRef(id=f"{ACCOUNT_PREFIX}{account.id}", platform=account.platform, external_id=account.external_id,
                      username=account.username, token=token, settings=dict(account.settings or {}),
                      token_expires_at=account.token_expires_at, refresh_token=_refresh_token_of(runtime, account))


def _refresh_token_of(runtime: Runtime, account: Account) -> str:
    """The decrypted refresh token kept at connect, or "" (none, or the secret key changed)."""
    if not account.refresh_token_encrypted:
        return ""
    try:
        return crypto.decrypt(runtime.config.resolved_secret_key(), account.refresh_token_encrypted)
    except crypto.InvalidToken:
        return ""


def token_expired(account: Account, now: dt.datetime) -> bool:
    """Whether the account's token has an expiry and it has passed at ``now`` (the runtime's clock, or a due time)."""
    return account.token_expires_at is not None and account.token_expires_at <= now


def usable(runtime: Runtime, account: Account) -> tuple[str | None, str | None]:
    """``(token, None)`` when the account can publish now, else ``(None, reason)`` (and the account is marked)."""
    if account.status != "active":
        return None, _unusable_reason(account)
    if token_expired(account, runtime.clock.now()):
        mark(runtime, account, "expired", f"The access token expired on {isoformat(account.token_expires_at)}.")
        return None, _unusable_reason(account)
    token = token_of(runtime, account)
    if token is None:
        mark(runtime, account, "invalid", "The stored token cannot be decrypted (HERALD_SECRET_KEY changed).")
        return None, _unusable_reason(account)
    return token, None


def _unusable_reason(account: Account) -> str:
    what = f"The {account.platform} account @{account.username} ({ACCOUNT_PREFIX}{account.id})"
    detail = f" {account.status_reason}" if account.status_reason else ""
    return (f"{what} is {account.status}.{detail} Reconnect it with POST /v1/accounts and a fresh access token, "
            "then publish again.")


def mark(runtime: Runtime, account: Account, status: str, reason: str) -> None:
    """Set the account's status (``active``, ``expired``, ``invalid``) with the reason.

    An active account that becomes unusable records ``account.needs_reconnect``.
    """
    now = runtime.clock.now()
    with events.collecting() as recorded, write_transaction():
        previous = Account.select(Account.status).where(Account.id == account.id).scalar()
        if previous == "disconnected":  # disconnected meanwhile: that stands
            return
        (Account.update(status=status, status_reason=reason, checked_at=now, updated_at=now)
         .where(Account.id == account.id).execute())
        account.status, account.status_reason, account.checked_at = status, reason, now
        _record_status_change(account, previous)
    events.dispatch(runtime.pm, recorded)


def _record_status_change(account: Account, previous: str | None) -> None:
    """``account.needs_reconnect`` when ``account`` (as now stored) stopped being active."""
    if previous == "active" and account.status != "active":
        events.record(account.workspace_id, "account.needs_reconnect", {"account": serialize_account(account)})


def platform_of(runtime: Runtime, account: Account):
    """The platform object ``account`` belongs to; None when its plugin is no longer installed."""
    registered = runtime.registry.platforms.get(account.platform)
    return registered.obj if registered is not None else None


def renews_tokens(runtime: Runtime, account: Account) -> bool:
    """Whether ``account``'s platform asks for new tokens before they run out (``refresh_token``)."""
    return provided(platform_of(runtime, account), "refresh_token") is not None


def what_to_do_before_expiry(runtime: Runtime, account: Account, reconnect: str) -> str:
    """The advice closing a token-expiry warning: ``reconnect``, after saying that Herald renews
    the token first where the platform can."""
    if renews_tokens(runtime, account):
        return (f"Herald asks {account.platform} for a new token {REFRESH_WITHIN_DAYS} days before it expires "
                f"(herald cron's token check); if that fails, {reconnect}")
    return reconnect[0].upper() + reconnect[1:]


def expiry_warnings(runtime: Runtime, account: Account, now: dt.datetime | None = None) -> list[dict]:
    """A ``token_expires_soon`` warning when ``account``'s token expires within :data:`TOKEN_WARNING_DAYS`.

    For the answer to connecting: the health check announces a token entering that window only
    once it has seen the token outside it, so a token connected inside it is flagged here.
    """
    now = now or runtime.clock.now()
    expires = account.token_expires_at
    if expires is None or expires - now > dt.timedelta(days=TOKEN_WARNING_DAYS):
        return []
    days = max(0, (expires - now).days)
    within = f"in {days} day{'s' * (days != 1)}" if days else "within a day"
    advice = what_to_do_before_expiry(runtime, account, "connect the account again with a fresh long-lived token "
                                                      "before then, or its posts will fail.")
    return [warning("token_expires_soon", f"This access token expires at {isoformat(expires)}, {within}. {advice}",
                    "access_token")]


def _entered_warning_window(account: Account, before: Account, now: dt.datetime) -> bool:
    """Whether this check is the first to find ``account``'s token within :data:`TOKEN_WARNING_DAYS` of expiring.

    ``before`` is the account as the previous check left it. The warning goes out once per token
    and expiry without keeping a flag: a check already inside the window for the same expiry, on an
    active account, has sent it.
    """
    expires = account.token_expires_at
    if account.status != "active" or expires is None or expires <= now:
        return False
    line = expires - dt.timedelta(days=TOKEN_WARNING_DAYS)
    if now < line:
        return False
    already = (before.status == "active" and before.token_expires_at == expires
               and before.checked_at is not None and before.checked_at >= line)
    return not already


def check_health(runtime: Runtime, account: Account) -> TokenHealth | None:
    """Ask the platform whether the account's token still works and record the answer.

    Returns None when the platform could not be asked (nothing is changed then).
    """
    platform = platform_of(runtime, account)
    if provided(platform, "token_health") is None:
        return None
    token = token_of(runtime, account)
    if token is None:
        mark(runtime, account, "invalid", "The stored token cannot be decrypted (HERALD_SECRET_KEY changed).")
        return TokenHealth("invalid", reason=account.status_reason)
    try:
        health = platform.token_health(account_ref(runtime, account, token), config=runtime.config)
    except PlatformUnavailable as exc:
        log.info("token health of account %s not checked: %s", account.id, exc.message)
        return None
    with events.collecting() as recorded, write_transaction():
        now = runtime.clock.now()
        stored = Account.get_by_id(account.id)  # re-read inside the write lock: the status it had
        if stored.status == "disconnected":  # disconnected while the platform was asked: that stands
            return health
        before = Account(status=stored.status, token_expires_at=stored.token_expires_at, checked_at=stored.checked_at)
        stored.status, stored.status_reason, stored.checked_at, stored.updated_at = (
            health.status, health.reason or "", now, now)
        if health.expires_at:
            stored.token_expires_at = _naive(health.expires_at)
        stored.save(only=[Account.status, Account.status_reason, Account.checked_at, Account.updated_at,
                          Account.token_expires_at])
        _record_status_change(stored, before.status)
        if _entered_warning_window(stored, before, now):
            events.record(stored.workspace_id, "account.token_expiring",
                          {"account": serialize_account(stored),
                           "days_left": (stored.token_expires_at - now).days})
    events.dispatch(runtime.pm, recorded)
    return health


def publishing_quota(runtime: Runtime, account: Account) -> dict | None:
    """How much of its platform's posting quota ``account`` has used, asked of the platform now
    (``publishing_quota``); None when the platform has no such quota.

    409 ``conflict`` when the account cannot be used (reconnect it) or the platform refuses its
    token; 503 ``platform_unavailable`` when the platform cannot answer now.
    """
    ask = provided(platform_of(runtime, account), "publishing_quota")
    if ask is None:
        return None
    token, reason = usable(runtime, account)
    if token is None:
        raise Conflict(reason)
    try:
        quota = ask(account_ref(runtime, account, token), config=runtime.config)
    except PlatformRejected as exc:
        raise Conflict(f"{account.platform} refused to say: {exc.message}") from None
    except PlatformUnavailable as exc:
        raise platform_unavailable(account.platform, exc, "so it cannot say") from None
    except HeraldError:
        raise
    except Exception as exc:  # the plugin or the platform's answer broke: say so, not a bare 500
        raise platform_error(account.platform, exc, "so it cannot say") from None
    if quota is None:
        return None
    return {"used": quota.used, "limit": quota.limit, "remaining": max(0, quota.limit - quota.used),
            "window_hours": round(quota.window_seconds / 3600, 2)}


def platform_unavailable(platform_name: str, exc: PlatformUnavailable, consequence: str) -> HeraldError:
    """503 ``platform_unavailable`` for a platform that cannot answer a request made now, with
    ``Retry-After`` (the platform's wait, else :data:`PLATFORM_RETRY_AFTER`) and a message saying to retry."""
    wait = max(1, int(exc.retry_after)) if exc.retry_after else PLATFORM_RETRY_AFTER
    detail = exc.message.strip().rstrip(".")
    return HeraldError(f"{platform_name} cannot be reached right now, {consequence} ({detail}). "
                       f"Retry in {wait} seconds (with the same Idempotency-Key, if you sent one).",
                       code="platform_unavailable", headers={"Retry-After": str(wait)})


def platform_error(platform_name: str, exc: Exception, consequence: str) -> HeraldError:
    """500 ``platform_error`` for a call to a platform, made now, that failed unexpectedly (the plugin
    raised something else than ``PlatformRejected``/``PlatformUnavailable``, say on an answer it could
    not read); logged with its traceback."""
    log.exception("the %s plugin failed unexpectedly", platform_name)
    return HeraldError(f"The {platform_name} plugin failed while asking {platform_name}, {consequence} "
                       f"({type(exc).__name__}). Retry with the same Idempotency-Key, if you sent one; if it "
                       "keeps failing, the server's log has the details.", code="platform_error")


def disconnect(runtime: Runtime, account: Account) -> None:
    """Delete the account's token and mark it ``disconnected`` (its waiting tasks will fail, saying why)."""
    now = runtime.clock.now()
    with write_transaction():
        (Account.update(status="disconnected", status_reason="It was disconnected.", token_encrypted="",
                        refresh_token_encrypted=None, updated_at=now).where(Account.id == account.id).execute())


def serialize_account(account: Account) -> dict:
    """The JSON shape of ``GET /v1/accounts`` items (the token is never shown)."""
    return {
        "id": f"{ACCOUNT_PREFIX}{account.id}",
        "platform": account.platform,
        "username": account.username,
        "status": account.status,
        "status_reason": account.status_reason or None,
        "token_expires_at": isoformat(account.token_expires_at),
        "checked_at": isoformat(account.checked_at),
        "created_at": isoformat(account.created_at),
    }
