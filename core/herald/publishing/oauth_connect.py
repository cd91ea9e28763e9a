"""Connecting accounts through a platform's OAuth dialog (``POST /v1/accounts/connect``, then the
browser comes back to ``GET /v1/accounts/callback/<platform>``).

The core owns the flow; the platform plugin supplies the platform's calls (``authorization_url``,
``exchange_code``, ``list_connectable``: :class:`herald.platforms.Platform`) and never sees a state.

- ``state`` is ``<payload>.<signature>``: the payload (workspace, platform, nonce, expiry) in base64url
  JSON, signed with HMAC-SHA256 under a key derived from ``HERALD_SECRET_KEY``. It expires after
  :data:`STATE_LIFETIME` and is used once: its nonce is a row of ``oauth_state`` that the callback
  marks used in one conditional update before anything else happens (a replayed or raced state finds
  it used). The row also keeps the PKCE verifier (RFC 7636, S256; encrypted), where the browser goes
  back to, and the accounts chosen.
- The callback is hit by the user's browser without an API key: the state is its authentication.
- Where the browser goes afterwards (the connect request's ``redirect_uri``) must be on
  ``HERALD_PUBLIC_URL``'s origin or on one of ``HERALD_OAUTH_REDIRECT_ALLOWLIST``'s: Herald never
  redirects to an address a caller made up (no open redirect). Without one the callback answers JSON.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import hashlib
import hmac
import json
import logging
import secrets
import urllib.parse

from .. import crypto
from ..capabilities import provided
from ..db.models import Account, OAuthState, isoformat, write_transaction
from ..errors import Conflict, HeraldError, ValidationError
from ..platforms import AuthorizationRequest, NotConfigured, PlatformRejected, PlatformUnavailable
from ..runtime import Runtime
from . import accounts

log = logging.getLogger("herald.publishing.oauth_connect")

STATE_LIFETIME = dt.timedelta(minutes=10)
CALLBACK_PATH = "/v1/accounts/callback/{platform}"
_STATE_KEY_LABEL = b"herald oauth state v1"


# -- the signed state ---------------------------------------------------------------------------

def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _state_key(runtime: Runtime) -> bytes:
    return hmac.new(runtime.config.resolved_secret_key().encode(), _STATE_KEY_LABEL, hashlib.sha256).digest()


def sign_state(runtime: Runtime, payload: dict) -> str:
    """``payload`` as a signed state: base64url JSON, a dot, its HMAC-SHA256."""
    body = _b64(json.dumps(payload, separators=(",", ":"), sort_keys=True).encode())
    signature = hmac.new(_state_key(runtime), body.encode(), hashlib.sha256).digest()
    return f"{body}.{_b64(signature)}"


def read_state(runtime: Runtime, state: str) -> dict:
    """The payload of a state this server signed; 400 on ``state`` for anything else."""
    refused = ValidationError("state is not a state this server issued (changed, truncated or from elsewhere): "
                              "start again with POST /v1/accounts/connect.", field="state")
    body, _, signature = (state or "").partition(".")
    if not body or not signature:
        raise refused
    expected = _b64(hmac.new(_state_key(runtime), body.encode(), hashlib.sha256).digest())
    if not hmac.compare_digest(expected.encode(), signature.encode("utf-8", "surrogatepass")):
        raise refused
    try:
        payload = json.loads(_unb64(body))
    except ValueError:
        raise refused from None
    if not isinstance(payload, dict) or not {"w", "p", "n", "e"} <= set(payload):
        raise refused
    return payload


# -- starting ----------------------------------------------------------------------------------

def has_sign_in(platform) -> bool:
    """Whether ``platform`` connects accounts through an OAuth dialog (it provides ``authorization_url``)."""
    return provided(platform, "authorization_url") is not None


def _platform(runtime: Runtime, name: str, field: str = "platform"):
    registered = runtime.registry.platforms.get(name)
    if registered is None:
        available = ", ".join(sorted(runtime.registry.platforms)) or "none installed"
        raise ValidationError(f"Unknown platform {name!r}. Available: {available}.", field=field)
    platform = registered.obj
    if not has_sign_in(platform):
        raise ValidationError(f"The {name} plugin connects accounts with a pasted token only (POST /v1/accounts), "
                              "not through an OAuth dialog.", field=field)
    return platform


def callback_url(runtime: Runtime, platform_name: str) -> str:
    """Herald's callback for ``platform_name`` under ``HERALD_PUBLIC_URL`` (what the platform's app must
    list as a valid OAuth redirect URI); 409 when the public URL is not set."""
    public = (runtime.config.public_url or "").rstrip("/")
    if not public:
        raise Conflict("Connecting accounts through OAuth needs HERALD_PUBLIC_URL (this server's public https "
                       "address): the platform sends the user's browser back to "
                       f"HERALD_PUBLIC_URL{CALLBACK_PATH.format(platform=platform_name)}. Set it and restart.",
                       field="platform")
    return public + CALLBACK_PATH.format(platform=platform_name)


def _origin(url: str) -> tuple[str, str, int | None] | None:
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return parts.scheme, parts.hostname.lower(), port


def check_return_to(runtime: Runtime, url: str) -> str:
    """``url`` when the browser may be sent there after the callback: http(s), no credentials in it,
    on ``HERALD_PUBLIC_URL``'s origin or one of ``HERALD_OAUTH_REDIRECT_ALLOWLIST``; 400 otherwise."""
    origin = _origin(url)
    allowed = [_origin(entry) for entry in (runtime.config.public_url, *runtime.config.oauth_redirect_allowlist)
               if entry]
    if origin is None or "@" in urllib.parse.urlsplit(url).netloc or origin not in allowed:
        names = ", ".join(f"{scheme}://{host}:{port}" for scheme, host, port in filter(None, allowed)) or "none"
        raise ValidationError("redirect_uri must be an http(s) address on HERALD_PUBLIC_URL's origin or one listed "
                              f"in HERALD_OAUTH_REDIRECT_ALLOWLIST (allowed origins: {names}).", field="redirect_uri")
    return url


def start(runtime: Runtime, workspace_id: int, platform_name: str, return_to: str | None = None,
          chosen: list[str] | None = None) -> dict:
    """Begin connecting ``platform_name`` accounts: a state recorded for the workspace and the platform's
    dialog address carrying it. 400 for an unknown platform or a redirect that is not allowed; 409
    naming the settings to set when the platform's OAuth app (or ``HERALD_PUBLIC_URL``) is missing."""
    platform = _platform(runtime, platform_name)
    if return_to:
        check_return_to(runtime, return_to)
    redirect_uri = callback_url(runtime, platform_name)
    now = runtime.clock.now()
    expires = now + STATE_LIFETIME
    nonce = secrets.token_urlsafe(24)
    verifier = secrets.token_urlsafe(48) if platform.connect_flow.pkce else None
    challenge = _b64(hashlib.sha256(verifier.encode()).digest()) if verifier else None
    state = sign_state(runtime, {"w": workspace_id, "p": platform_name, "n": nonce,
                                 "e": int(expires.replace(tzinfo=dt.UTC).timestamp())})
    try:
        url = platform.authorization_url(AuthorizationRequest(state, redirect_uri, challenge), config=runtime.config)
    except NotConfigured as exc:
        raise not_configured(platform_name, exc) from None
    key = runtime.config.resolved_secret_key()
    with write_transaction():
        OAuthState.create(workspace=workspace_id, nonce=nonce, platform=platform_name, return_to=return_to or "",
                          code_verifier_encrypted=crypto.encrypt(key, verifier) if verifier else "",
                          chosen=list(dict.fromkeys(chosen or [])), created_at=now, expires_at=expires)
    return {"platform": platform_name, "authorization_url": url, "state": state, "redirect_uri": redirect_uri,
            "expires_at": isoformat(expires)}


def not_configured(platform_name: str, exc: NotConfigured) -> HeraldError:
    """409 naming the settings the operator must set for ``platform_name``'s OAuth flow."""
    names = " and ".join(exc.settings)
    return Conflict(f"Connecting {platform_name} accounts through OAuth needs {names} ({exc.message.rstrip('.')}). "
                    "Set them in the server's environment and restart it; meanwhile, connect with a pasted token "
                    "(POST /v1/accounts).", field="platform")


# -- the callback -------------------------------------------------------------------------------

@dataclasses.dataclass
class CallbackResult:
    """What the callback did: the accounts connected (``(account, created)``), or the error that ended
    the flow once its state was known (``error``), and where the browser goes back to (``return_to``)."""

    platform: str
    connected: list[tuple[Account, bool]] = dataclasses.field(default_factory=list)
    missing: list[str] = dataclasses.field(default_factory=list)
    return_to: str = ""
    error: HeraldError | None = None
    platform_error: str = ""  # the platform's own error parameter (access_denied), when it sent one


def claim(runtime: Runtime, platform_name: str, state: str) -> OAuthState:
    """The flow ``state`` names, marked used in the same step: 400 for a state this server did not sign,
    for another platform's, or one past its expiry; 409 for one used already."""
    if not state:
        raise ValidationError("state is missing: open the address POST /v1/accounts/connect answered.", field="state")
    payload = read_state(runtime, state)
    if payload["p"] != platform_name:
        raise ValidationError(f"This state was issued for {payload['p']}, not {platform_name}.", field="state")
    now = runtime.clock.now()
    if now.replace(tzinfo=dt.UTC).timestamp() >= payload["e"]:
        raise ValidationError(f"This connect flow expired (after {int(STATE_LIFETIME.total_seconds() // 60)} "
                              "minutes): start again with POST /v1/accounts/connect.", field="state")
    with write_transaction():
        used = (OAuthState.update(used_at=now)
                .where((OAuthState.nonce == payload["n"]) & OAuthState.used_at.is_null()
                       & (OAuthState.workspace == payload["w"]) & (OAuthState.expires_at > now))
                .execute())
        row = OAuthState.get_or_none(OAuthState.nonce == payload["n"])
    if not used:
        if row is None:  # purged, or its workspace deleted
            raise ValidationError("This connect flow is no longer known: start again with POST "
                                  "/v1/accounts/connect.", field="state")
        raise Conflict("This state was used already: each connect flow works once. Start again with POST "
                       "/v1/accounts/connect.", field="state")
    return row


def finish(runtime: Runtime, platform_name: str, params: dict[str, str]) -> CallbackResult:
    """Handle the platform's redirect back: check and use up the state, then (unless the user declined)
    exchange the code, list what the login can publish to and connect the chosen accounts.

    Errors before the state is known are raised; later ones are returned in ``error`` so the
    browser can be sent back to the flow's ``return_to`` with them."""
    platform = _platform(runtime, platform_name)
    row = claim(runtime, platform_name, params.get("state", ""))
    result = CallbackResult(platform_name, return_to=row.return_to, platform_error=params.get("error", "")[:100])
    try:
        result.connected, result.missing = _connect(runtime, platform, row, params)
    except HeraldError as exc:
        result.error = exc
    return result


def _connect(runtime: Runtime, platform, row: OAuthState, params: dict[str, str]):
    name = platform.name
    if params.get("error"):
        reason = (params.get("error_description") or params.get("error_reason") or params["error"])[:300]
        if params["error"] == "access_denied":
            raise ValidationError(f"The user declined to give Herald access on {name} ({reason}): nothing was "
                                  "connected. Start again with POST /v1/accounts/connect to retry.", field="error")
        raise ValidationError(f"{name} ended the login with an error: {params['error'][:100]} ({reason}). Nothing was "
                              "connected.", field="error")
    code = params.get("code", "")
    if not code:
        raise ValidationError(f"{name} sent the browser back without a code: nothing was connected.", field="code")
    key = runtime.config.resolved_secret_key()
    verifier = crypto.decrypt(key, row.code_verifier_encrypted) if row.code_verifier_encrypted else None
    try:
        grant = platform.exchange_code(code, redirect_uri=callback_url(runtime, name), code_verifier=verifier,
                                       config=runtime.config)
        found = platform.list_connectable(grant, config=runtime.config)
    except NotConfigured as exc:
        raise not_configured(name, exc) from None
    except PlatformRejected as exc:
        raise ValidationError(f"{name} refused: {exc.message}", field=exc.field or "code") from None
    except PlatformUnavailable as exc:
        raise accounts.platform_unavailable(name, exc, "so no account was connected") from None
    except HeraldError:
        raise
    except Exception as exc:  # the plugin or the platform's answer broke: say so, not a bare 500
        raise accounts.platform_error(name, exc, "so no account was connected") from None
    chosen = list(row.chosen or [])
    offered = {item.external_id: item for item in found}
    missing = [external_id for external_id in chosen if external_id not in offered]
    if chosen:
        found = [offered[external_id] for external_id in chosen if external_id in offered]
    if not found:
        names = ", ".join(f"{item.username} ({item.external_id})" for item in offered.values())
        raise ValidationError(f"This {name} login can publish to none of the accounts asked for; it offers: "
                              f"{names or 'none'}." if chosen else
                              f"This {name} login has no account Herald can publish to.", field="accounts")
    connected = [accounts.store(runtime, row.workspace_id, name, item) for item in found]
    return connected, missing


def purge(now: dt.datetime) -> int:
    """Delete flows that expired more than a day ago (used or not); returns how many."""
    return OAuthState.delete().where(OAuthState.expires_at < now - dt.timedelta(days=1)).execute()


def connected_body(result: CallbackResult) -> dict:
    """The JSON answer of a callback that connected accounts."""
    return {"platform": result.platform,
            "accounts": [accounts.serialize_account(account) for account, _ in result.connected],
            "created": [f"{accounts.ACCOUNT_PREFIX}{account.id}" for account, created in result.connected if created],
            "missing": result.missing}


def back_to(result: CallbackResult) -> str:
    """The flow's ``return_to`` with what happened: ``connected=acc_1,acc_2`` (and ``missing``), or
    ``error`` (the error code; ``access_denied`` when the user declined) and ``error_description``."""
    if result.error is not None:
        query = {"error": result.platform_error or result.error.code, "error_description": result.error.message}
    else:
        query = {"connected": ",".join(f"{accounts.ACCOUNT_PREFIX}{account.id}" for account, _ in result.connected)}
        if result.missing:
            query["missing"] = ",".join(result.missing)
    parts = urllib.parse.urlsplit(result.return_to)
    joined = "&".join(part for part in (parts.query, urllib.parse.urlencode(query)) if part)
    return urllib.parse.urlunsplit(parts._replace(query=joined, fragment=""))
