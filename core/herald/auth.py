"""Who is calling: API keys (``X-API-Key`` or ``Authorization: Bearer``), session cookies, scopes.

Keys look like ``hrld_live_<43 base62 characters>`` (32 random bytes), are shown once and stored
only as SHA-256 digests. Sessions are random tokens in an HttpOnly cookie, also stored as
digests; cookie-authenticated requests that change anything must carry the session's CSRF token
in ``X-CSRF-Token`` and must not come from another site.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import hashlib
import hmac
import secrets

from flask import Request
from werkzeug.security import check_password_hash, generate_password_hash

from .cache import TTLCache
from .clock import Clock
from .db.models import ROLES, ApiKey, User, UserSession, Workspace, write_transaction
from .errors import Forbidden, Unauthorized, ValidationError

KEY_PREFIX = "hrld_live_"
SESSION_COOKIE = "herald_session"
SESSION_LIFETIME = dt.timedelta(days=14)
SCOPES = ("posts:read", "posts:write", "publish", "accounts", "webhooks", "intelligence", "admin")
ROLE_SCOPES = {
    "owner": frozenset(SCOPES),
    "admin": frozenset(SCOPES),
    "editor": frozenset({"posts:read", "posts:write", "publish", "intelligence"}),
    "viewer": frozenset({"posts:read"}),
}
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
LABEL_LENGTH = 200  # the columns that keep who acted (PostVersion.actor, PostComment.author)
SESSION_CSRF = "csrf"  # the purpose of a session's CSRF value (see csrf_value)


def fit_label(prefix: str, name: str, suffix: str = "") -> str:
    """``prefix + name + suffix`` in at most :data:`LABEL_LENGTH` characters, the name cut short (with an
    ellipsis) when it is longer: a key named with 200 characters, or a long e-mail address, must still
    fit the edit history (PostgreSQL refuses a longer value; SQLite would keep it)."""
    room = LABEL_LENGTH - len(prefix) - len(suffix)
    if len(name) > room:
        name = name[:room - 1] + "\N{HORIZONTAL ELLIPSIS}"
    return prefix + name + suffix


@dataclasses.dataclass(frozen=True)
class Principal:
    """The authenticated caller: a workspace and what it may do there."""

    workspace_id: int
    kind: str  # "key", "session" or "portal" (a client portal link)
    scopes: frozenset[str]
    key_id: int | None = None
    user_id: int | None = None
    role: str | None = None
    label: str = ""  # who made a change, for edit history: "key:Zapier (#3)", "user:ana@example.com"

    def require(self, scope: str) -> None:
        """Raise 403 ``forbidden`` naming ``scope`` when the caller lacks it."""
        if scope in self.scopes:
            return
        if self.kind == "session":
            raise Forbidden(f"Your role ({self.role}) does not allow this; it needs the {scope!r} permission.")
        raise Forbidden(f"This API key lacks the {scope!r} scope.")


def digest(secret: str) -> str:
    """SHA-256 hex digest of a key or session token (what the database stores)."""
    return hashlib.sha256(secret.encode()).hexdigest()


def csrf_value(secret_key: str, purpose: str, bound_to: str) -> str:
    """The CSRF value for ``bound_to`` (a session's or a portal link's token): an HMAC-SHA256 of
    ``purpose:bound_to`` with the server's secret, so a value made for one purpose fits no other."""
    return hmac.new(secret_key.encode(), f"{purpose}:{bound_to}".encode(), hashlib.sha256).hexdigest()


def csrf_matches(secret_key: str, purpose: str, bound_to: str, sent: str) -> bool:
    """Whether ``sent`` is :func:`csrf_value` for ``bound_to``, compared in constant time (as bytes, so
    any text a client sends is merely wrong)."""
    return hmac.compare_digest(sent.encode(), csrf_value(secret_key, purpose, bound_to).encode())


def from_another_site(request: Request) -> bool:
    """Whether the browser says the request comes from another site (``Sec-Fetch-Site``)."""
    site = request.headers.get("Sec-Fetch-Site")
    return site is not None and site not in ("same-origin", "none")


def _base62(data: bytes) -> str:
    number = int.from_bytes(data, "big")
    chars = []
    while number:
        number, rem = divmod(number, 62)
        chars.append(_BASE62[rem])
    return "".join(reversed(chars)).rjust(43, "0")


def generate_key() -> str:
    """A new API key: the prefix and 32 random bytes in base62 (selectable with a double-click)."""
    return KEY_PREFIX + _base62(secrets.token_bytes(32))


def validate_scopes(scopes) -> list[str]:
    """The scopes, checked against :data:`SCOPES`; raises 400 naming the unknown one."""
    scopes = list(dict.fromkeys(scopes))
    for scope in scopes:
        if scope not in SCOPES:
            raise ValidationError(f"Unknown scope {scope!r}. Scopes: {', '.join(SCOPES)}.", field="scopes")
    return scopes


def create_api_key(workspace: Workspace | int, scopes=SCOPES, name: str = "") -> tuple[ApiKey, str]:
    """Create a key for the workspace; returns the row and the key itself (shown once, never stored)."""
    key = generate_key()
    row = ApiKey.create(workspace=workspace, name=name, digest=digest(key),
                        display=f"{key[:14]}…{key[-4:]}", scopes=validate_scopes(scopes))
    return row, key


class Authenticator:
    """Resolves requests to a :class:`Principal`, caching key lookups for a few seconds."""

    def __init__(self, key_cache_seconds: float, secret_key: str, clock: Clock):
        """``clock`` is the runtime's: it dates key use, revocations and sessions."""
        self._clock = clock
        self._keys = TTLCache(ttl=key_cache_seconds)
        self._touched = TTLCache(ttl=60.0)
        self._secret_key = secret_key

    # -- API keys -------------------------------------------------------------------------------

    @staticmethod
    def presented_key(request: Request) -> str | None:
        """The API key the request carries, if any."""
        key = request.headers.get("X-API-Key")
        if key:
            return key.strip()
        authorization = request.headers.get("Authorization", "")
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
        return None

    def principal_for_key(self, key: str) -> Principal:
        """The principal for ``key``; 401 when it is unknown or revoked."""
        key_digest = digest(key)
        principal = self._keys.get(key_digest)
        if principal is None:
            row = (ApiKey.select(ApiKey.id, ApiKey.workspace, ApiKey.scopes, ApiKey.name)
                   .where((ApiKey.digest == key_digest) & ApiKey.revoked_at.is_null())
                   .first())
            if row is None:
                raise Unauthorized("API key missing, invalid, or expired.")
            label = fit_label("key:", row.name, f" (#{row.id})") if row.name else f"key:#{row.id}"
            principal = Principal(workspace_id=row.workspace_id, kind="key", scopes=frozenset(row.scopes),
                                  key_id=row.id, label=label)
            self._keys.set(key_digest, principal)
        if self._touched.get(principal.key_id) is None:
            # Record use at most once a minute per key: a write per request would cost more than the request.
            self._touched.set(principal.key_id, True)
            ApiKey.update(last_used_at=self._clock.now()).where(ApiKey.id == principal.key_id).execute()
        return principal

    def forget_key(self, key_digest: str) -> None:
        """Drop a key from this process's cache (after revocation)."""
        self._keys.discard(key_digest)

    def revoke_key(self, workspace_id: int, key_id: int) -> bool:
        """Revoke a key of the workspace; False when there is no such active key."""
        row = ApiKey.get_or_none((ApiKey.id == key_id) & (ApiKey.workspace == workspace_id))
        if row is None or row.revoked_at is not None:
            return False
        row.revoked_at = self._clock.now()
        row.save()
        self.forget_key(row.digest)
        return True

    # -- sessions -------------------------------------------------------------------------------

    def csrf_token(self, session_token: str) -> str:
        """The CSRF token bound to a session (an HMAC of its token with the secret key)."""
        return csrf_value(self._secret_key, SESSION_CSRF, session_token)

    def login(self, email: str, password: str) -> tuple[User, str]:
        """Check credentials and open a session; returns the user and the new session token."""
        user = User.get_or_none(User.email == email.strip().lower())
        # Hash something even for unknown users so response time does not reveal which emails exist.
        stored = user.password_hash if user else _dummy_hash()
        if not check_password_hash(stored, password) or user is None:
            raise Unauthorized("Email or password is incorrect.")
        token = secrets.token_urlsafe(32)
        UserSession.create(user=user, digest=digest(token), expires_at=self._clock.now() + SESSION_LIFETIME)
        return user, token

    @staticmethod
    def logout(token: str) -> None:
        """End the session ``token`` names (no-op when it is unknown)."""
        UserSession.delete().where(UserSession.digest == digest(token)).execute()

    def principal_for_session(self, token: str, request: Request) -> Principal:
        """The principal for a session cookie; enforces CSRF protection on unsafe methods."""
        principal = self.session_principal(token)
        if request.method in UNSAFE_METHODS:
            self._check_csrf(token, request)
        return principal

    def session_principal(self, token: str) -> Principal:
        """The principal of the session ``token``, without a CSRF check: for callers that check the
        CSRF value where they carry it (the ``/app`` pages' forms carry it in a field); 401 when the
        session is unknown or expired."""
        row = (UserSession.select(UserSession, User)
               .join(User)
               .where((UserSession.digest == digest(token)) & (UserSession.expires_at > self._clock.now()))
               .first())
        if row is None:
            raise Unauthorized("Your session has expired or was ended; log in again.")
        user = row.user
        return Principal(workspace_id=user.workspace_id, kind="session", scopes=ROLE_SCOPES[user.role],
                         user_id=user.id, role=user.role, label=fit_label("user:", user.email))

    def _check_csrf(self, token: str, request: Request) -> None:
        if from_another_site(request):
            raise Forbidden("Cross-site requests with a session cookie are refused.")
        if not csrf_matches(self._secret_key, SESSION_CSRF, token, request.headers.get("X-CSRF-Token", "")):
            raise Forbidden("Missing or wrong X-CSRF-Token header; it is returned by POST /api/login "
                            "and GET /api/session.")

    # -- either ---------------------------------------------------------------------------------

    def authenticate(self, request: Request) -> Principal:
        """The caller of ``request``: by API key first, then by session cookie; 401 otherwise."""
        key = self.presented_key(request)
        if key is not None:
            return self.principal_for_key(key)
        token = request.cookies.get(SESSION_COOKIE)
        if token:
            return self.principal_for_session(token, request)
        raise Unauthorized("API key missing, invalid, or expired.")


@functools.cache
def _dummy_hash() -> str:
    return generate_password_hash(secrets.token_urlsafe(16))


def create_user(workspace: Workspace | int, email: str, password: str, role: str = "editor") -> User:
    """Create a user with a hashed password; 400 for a bad role, a short password or a used email."""
    email = email.strip().lower()
    if role not in ROLES:
        raise ValidationError(f"role must be one of {', '.join(ROLES)}.", field="role")
    if "@" not in email:
        raise ValidationError("email must be an email address.", field="email")
    if len(password) < 8:
        raise ValidationError("password must be at least 8 characters.", field="password")
    with write_transaction():
        if User.select().where(User.email == email).exists():
            raise ValidationError("A user with this email already exists.", field="email")
        return User.create(workspace=workspace, email=email, password_hash=generate_password_hash(password),
                           role=role)
