"""What the ``/app`` pages share (the Integrations page and its forms, the core's and the plugins').

The pages are for signed-in users: the session cookie of ``POST /api/login`` (or of the ``/app/login``
form) is the credential. They are server-rendered like the client portal: a strict
Content-Security-Policy (this server's stylesheet and one small script, nothing inline), no caching,
no framing. Every change is a plain form carrying the session's CSRF value in its ``csrf`` field;
:func:`app_form` checks the session, the CSRF value, the caller's scope (their role's), runs the
view and answers 303 back to the page with a notice code (a fixed text; nothing from the URL is
shown). A secret shown once (a new API key, a webhook's signing secret) is kept server-side for the
next page view (:func:`flash_secret`), never put in a URL.
"""

from __future__ import annotations

import dataclasses
import functools
import json

from flask import Blueprint, current_app, g, make_response, redirect, render_template, request
from werkzeug.exceptions import HTTPException

from ...auth import SESSION_COOKIE, SESSION_CSRF, Principal, csrf_matches, digest, from_another_site
from ...errors import Forbidden, HeraldError, Unauthorized
from . import endpoint, private_page_headers, runtime

CSP = ("default-src 'none'; style-src 'self'; img-src 'self'; script-src 'self'; form-action 'self'; "
       "base-uri 'none'; frame-ancestors 'none'")
FORM = "application/x-www-form-urlencoded"
PAGE_PATH = "/app/integrations"
LOGIN_PATH = "/app/login"
FLASH_SECONDS = 300  # a secret waits this long for the page that shows it once
_FLASH_KEY = "herald:app-flash:"
TITLES = {400: "Please check the form", 401: "Please log in", 403: "Not allowed", 404: "Not found",
          409: "Not possible now", 413: "Too large", 429: "Too many requests", 503: "Try again later"}


@dataclasses.dataclass(frozen=True)
class SectionPage:
    """What a section of the Integrations page renders with: who is looking, the CSRF value every
    form carries (``<input type="hidden" name="csrf" value="{{ page.csrf }}">``) and the clock."""

    principal: Principal
    csrf: str
    now: object

    def can(self, scope: str) -> bool:
        """Whether the caller's role allows ``scope``: leave out forms it may not send (the server
        refuses them anyway)."""
        return scope in self.principal.scopes


def protect(response):
    """The headers of every ``/app`` answer."""
    return private_page_headers(response, csp=CSP, referrer="same-origin")


def message_page(status: int, message: str, title: str | None = None, headers: dict | None = None):
    """A page saying what went wrong, with a link back to the Integrations page."""
    body = render_template("app/message.html", title=title or TITLES.get(status, "Something is not right"),
                           message=message, status=status)
    return protect(make_response(body, status, headers or {}))


def session_token() -> str | None:
    """The session cookie's token, if the request carries one."""
    return request.cookies.get(SESSION_COOKIE) or None


def page_principal() -> Principal | None:
    """The signed-in caller, or None (no cookie, or a session that ended)."""
    token = session_token()
    if token is None:
        return None
    try:
        return runtime().auth.session_principal(token)
    except Unauthorized:
        return None


def csrf_for(token: str) -> str:
    """The CSRF value the session's forms carry (the one ``GET /api/session`` gives scripts)."""
    return runtime().auth.csrf_token(token)


def check_form(token: str) -> None:
    """403 for a form sent from another site or without the session's CSRF value."""
    if from_another_site(request):
        raise Forbidden("Forms can only be sent from this site's pages.")
    if not csrf_matches(current_app.config["SECRET_KEY"], SESSION_CSRF, token, request.form.get("csrf", "")):
        raise Forbidden("This form is out of date or did not come from this page; reload the page and try again.")


def flash_secret(label: str, value: str) -> None:
    """Keep ``value`` (a secret shown once) for the session's next view of the page, server-side."""
    key = _FLASH_KEY + digest(session_token() or "")
    runtime().redis.set(key, json.dumps({"label": label, "value": value}), ex=FLASH_SECONDS)


def take_flash(token: str) -> dict | None:
    """The secret kept for this session, removed as it is read (it is shown once)."""
    key = _FLASH_KEY + digest(token)
    pipe = runtime().redis.pipeline()
    pipe.get(key)
    pipe.delete(key)
    raw, _ = pipe.execute()
    return json.loads(raw) if raw else None


def back(notice: str):
    """303 to the page with the notice ``<section>.<code>``, scrolled to the section."""
    section = notice.split(".", 1)[0]
    return protect(redirect(f"{PAGE_PATH}?notice={notice}#{section}", 303))


def run_form(view, scope: str | None, kwargs: dict):
    """Check the session, the form's CSRF value and ``scope``; run ``view``; back to the page with the
    notice it returns (or the response it returns, such as the next step of a flow). A refusal (the
    envelope's errors) is a page saying why, with its status."""
    try:
        token = session_token()
        if token is None:
            raise Unauthorized("Your session has expired or was ended; log in again.")
        principal = runtime().auth.session_principal(token)
        check_form(token)
        if scope:
            principal.require(scope)
        g.principal = principal
        answer = view(**kwargs)
    except HeraldError as exc:
        return error_page(exc)
    except HTTPException as exc:  # a form too large to read, ...: a page too, not the API's envelope
        return message_page(exc.code or 500, exc.description or exc.name, exc.name)
    if isinstance(answer, str):
        return back(answer)
    return protect(answer)  # a page of its own (the next step of a flow)


def app_form(bp: Blueprint, rule: str, *, summary: str, scope: str | None, errors: tuple[int, ...] = ()):
    """Declare the form ``POST <rule>`` of an ``/app`` page on ``bp``: the session's user, with the
    session's CSRF value in the form and ``scope`` in their role, runs the view, which returns the notice
    ``"<section>.<code>"`` to show on the page. A view reads the form from ``flask.request.form``, the
    caller from ``flask.g.principal``; what it raises (``NotFound``, ``ValidationError``...) is answered
    as a page with the error's status and message."""

    # What is refused before the view runs (text the database cannot keep, in before_request) is a page
    # too: ``bp`` should hold the forms only, as its other routes' errors would be pages as well.
    bp.register_error_handler(HeraldError, error_page)

    def decorate(view):
        @functools.wraps(view)
        def form_view(**kwargs):
            return run_form(view, scope, kwargs)

        return endpoint(bp, rule, ("POST",), summary=summary, auth=False, content_type=FORM,
                        response_type="text/html", errors=tuple(sorted({400, 401, 403, 404, *errors})))(form_view)

    return decorate


def error_page(exc: HeraldError):
    """The page for an error of the envelope (its status and message)."""
    return message_page(exc.status, exc.message, headers=exc.headers)
