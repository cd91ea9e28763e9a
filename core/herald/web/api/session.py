"""Session auth for dashboards: ``POST /api/login``, ``POST /api/logout``, ``GET /api/session``."""

import ipaddress
from urllib.parse import urlsplit

from flask import Blueprint, g, jsonify, request

from ...auth import SESSION_COOKIE, SESSION_LIFETIME
from ...db.models import User, Workspace
from ...errors import Unauthorized
from . import endpoint, runtime

bp = Blueprint("session", __name__, url_prefix="/api")


def _loopback(host: str | None) -> bool:
    """Whether ``host`` (an address, or a Host header's name without its port) is this machine."""
    if not host:
        return False
    name = host.lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _secure_cookie() -> bool:
    """Whether the session cookie is ``Secure``: always, except on plain http between two ends of this
    machine (the browser or script at ``http://127.0.0.1`` or ``localhost``, which would never send a
    Secure cookie back), or when ``HERALD_INSECURE_COOKIES`` says so. Behind a proxy that speaks
    https, ``HERALD_TRUSTED_PROXIES`` makes the scheme https, so the cookie stays Secure."""
    if runtime().config.insecure_cookies:
        return False
    host = urlsplit("//" + request.host).hostname  # the Host header's name, without its port or brackets
    return not (request.scheme == "http" and _loopback(request.remote_addr) and _loopback(host))


def _session_body(user, token: str) -> dict:
    workspace = Workspace.get_by_id(user.workspace_id)
    return {"user": {"id": user.id, "email": user.email, "role": user.role},
            "workspace": {"id": workspace.id, "name": workspace.name, "plan": workspace.plan},
            "csrf_token": runtime().auth.csrf_token(token)}


@endpoint(bp, "/login", ("POST",), summary="Log in with email and password (sets the session cookie)",
          auth=False, body="login", responses={200: "session"}, errors=(401,))
def login(payload):
    """Check the credentials and set an HttpOnly, SameSite=Lax session cookie."""
    user, token = runtime().auth.login(payload["email"], payload["password"])
    response = jsonify(_session_body(user, token))
    set_session_cookie(response, token)
    response.headers["Cache-Control"] = "no-store"
    return response


def set_session_cookie(response, token: str) -> None:
    """Give ``response`` the HttpOnly, SameSite=Lax session cookie holding ``token`` (also used by the
    ``/app`` login form)."""
    response.set_cookie(SESSION_COOKIE, token, max_age=int(SESSION_LIFETIME.total_seconds()), httponly=True,
                        samesite="Lax", secure=_secure_cookie(), path="/")


def clear_session_cookie(response) -> None:
    """Tell the browser to forget the session cookie."""
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="Lax", secure=_secure_cookie())


@endpoint(bp, "/logout", ("POST",), summary="End the session", auth=False, responses={200: "success"})
def logout():
    """End the session named by the cookie and clear the cookie."""
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        # Same CSRF rules as any other cookie-authenticated change.
        runtime().auth.principal_for_session(token, request)
        runtime().auth.logout(token)
    response = jsonify({"success": True})
    clear_session_cookie(response)
    return response


@endpoint(bp, "/session", ("GET",), summary="The current session's user and CSRF token", responses={200: "session"})
def current_session():
    """Who is logged in, with the CSRF token their changes must carry."""
    if g.principal.kind != "session":
        raise Unauthorized("This endpoint describes a login session; API keys have none.")
    token = request.cookies[SESSION_COOKIE]
    return jsonify(_session_body(User.get_by_id(g.principal.user_id), token))
