"""``/portal/<token>``: the client portal page (server-rendered HTML, no login, no script) and its forms.

The token in the URL is the credential. Every response forbids caching, indexing, framing and
referrers (the token must not leak into other sites' logs), and the Content-Security-Policy allows
nothing but this server's own stylesheet, images and videos. Forms post back here and redirect to
the page with a notice, so everything works without JavaScript. Each form carries a per-link CSRF
value (an HMAC of the token) and cross-site posts are refused.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from flask import Blueprint, current_app, g, make_response, redirect, render_template, request, url_for
from flask_limiter.errors import RateLimitExceeded
from werkzeug.exceptions import HTTPException

from ...auth import from_another_site
from ...db import unstorable_text
from ...db.models import PortalToken, Post
from ...errors import Conflict, HeraldError, NotFound
from ...portal import links as portal
from ...portal import page as portal_page
from ...publishing import approvals, comments
from ...publishing.posts import get_post
from .. import ratelimit
from ..error_handlers import serve_routing_errors_as_pages
from . import endpoint, private_page_headers, runtime

bp = Blueprint("client_portal", __name__)
log = logging.getLogger("herald.portal.links")

CSP = ("default-src 'none'; style-src 'self'; img-src 'self'; media-src 'self'; form-action 'self'; "
       "base-uri 'none'; frame-ancestors 'none'")
NOTICES = {
    "approved": "Approved. The post will be published as scheduled.",
    "approved_draft": "Approved. The agency will schedule it.",
    "rejected": "Rejected. The agency can see your reason.",
    "commented": "Thank you: your comment was sent to the agency.",
}
ERRORS = {
    "reason_required": "Please say why you reject this post, so the agency can fix it.",
    "reason_too_long": f"Please keep the reason under {comments.MAX_LENGTH} characters.",
    "comment_empty": "Write a comment before sending it.",
    "comment_too_long": f"Please keep comments under {comments.MAX_LENGTH} characters.",
    "not_pending": "This post is no longer waiting for approval: someone approved or rejected it already.",
}
# The rejection reason's problems, as the page's error codes.
REASON_ERRORS = {comments.EmptyBody: "reason_required", comments.BodyTooLong: "reason_too_long"}
MAX_AUTHOR = 80
FORM = "application/x-www-form-urlencoded"


class PortalRefusal(Exception):
    """Answer with a plain message page: ``status``, a title and one sentence."""

    def __init__(self, status: int, title: str, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.title, self.message, self.headers = status, title, message, headers or {}


def _message_page(status: int, title: str, message: str, headers: dict[str, str] | None = None):
    return render_template("portal/message.html", title=title, message=message), status, headers or {}


@bp.errorhandler(PortalRefusal)
def _refused(exc: PortalRefusal):
    return _message_page(exc.status, exc.title, exc.message, exc.headers)


@bp.errorhandler(HeraldError)
def _herald_error(exc: HeraldError):
    return _message_page(exc.status, "Something is not right", exc.message, exc.headers)


@bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException):
    """A client reads the portal in a browser: HTTP errors (a form too large, ...) are pages, not JSON."""
    kept = {name: value for name, value in exc.get_response().headers.items() if name in ("Allow", "Retry-After")}
    return _message_page(exc.code or 500, exc.name, exc.description or exc.name, kept)


def routing_error_page(exc: HTTPException):
    """The page for an address under ``/portal/`` that matches no route: a mistyped link or method."""
    if exc.code == 404:
        page = _message_page(404, "Page not found", "There is no such page. Check the link the agency sent you, "
                                                    "or ask them for a new one.")
    else:
        page = _http_error(exc)
    return _protect(make_response(page))


bp.record_once(lambda setup: serve_routing_errors_as_pages(setup.app, "/portal/", routing_error_page))


@bp.errorhandler(Exception)
def _unexpected(exc: Exception):
    """An unexpected error is logged with the request id and answered with a page naming that id."""
    request_id = getattr(g, "request_id", "-")
    log.exception("unhandled error in %s %s (request %s)", request.method, request.path, request_id)
    return _message_page(500, "Something went wrong",
                         f"Something went wrong on our side. Please try again later, or tell the agency "
                         f"(request id {request_id}).")


@bp.errorhandler(RateLimitExceeded)
def _too_many(exc: RateLimitExceeded):
    """The link's limit (:func:`herald.web.ratelimit.apply_portal_limit`) or the per-address one was broken."""
    wait = ratelimit.retry_after(runtime().limiter)
    return _message_page(429, "Too many requests", f"Please wait {wait} seconds, then reload the page.",
                         {"Retry-After": str(wait)})


@bp.after_request
def _protect(response):
    return private_page_headers(response, csp=CSP, referrer="no-referrer")  # the token must not leak


def _open(token: str) -> PortalToken:
    """The active link for ``token``; the "this link has expired" page otherwise."""
    try:
        link = portal.resolve(token, runtime().clock.now())
    except portal.LinkUnknown:
        raise PortalRefusal(404, "This link has expired", "Ask the agency for a new link.") from None
    except portal.LinkExpired:
        raise PortalRefusal(410, "This link has expired", "Ask the agency for a new link.") from None
    portal.touch(link, runtime().clock.now())
    return link


def _secret() -> str:
    return current_app.config["SECRET_KEY"]


def _check_form(token: str) -> None:
    """Refuse a form post from another site, or without this link's CSRF value."""
    if from_another_site(request):
        raise PortalRefusal(403, "Not allowed", "Forms can only be sent from this page.")
    if not portal.check_csrf(_secret(), token, request.form.get("csrf", "")):
        raise PortalRefusal(403, "Not allowed", "This form is out of date or did not come from this page; "
                                                "reload the page and try again.")


def _client_post(link: PortalToken, post_id: int) -> Post:
    """The link's client's post ``post_id``; the not-found page for any other post."""
    try:
        return get_post(link.workspace_id, post_id, client_id=link.client_id)
    except NotFound:
        raise PortalRefusal(404, "Post not found", "This post is not part of this portal.") from None


def _back(token: str, post_id: int | None = None, *, notice: str | None = None, error: str | None = None):
    """303 to the page, with a notice (or error) shown next to the post."""
    anchor = f"post-{post_id}" if post_id is not None else None
    return redirect(url_for("client_portal.page", token=token, notice=notice, error=error, post=post_id,
                            _anchor=anchor), 303)


def _flash() -> dict | None:
    """The notice or error named in the query string (fixed texts only: nothing from the URL is shown)."""
    code = request.args.get("notice") or request.args.get("error")
    text = NOTICES.get(code) if "notice" in request.args else ERRORS.get(code)
    if not text:
        return None
    post_id = request.args.get("post", "")
    return {"text": text, "error": "notice" not in request.args,
            "post_id": int(post_id) if post_id.isdigit() else None}


@endpoint(bp, "/portal/<token>", ("GET",), auth=False, response_type="text/html", errors=(410,),
          summary="The client portal page (HTML): posts, statuses, stats, approvals and comments")
def page(token):
    """The page for an active link; "this link has expired" (410, or 404 for an unknown link) otherwise."""
    link = _open(token)
    view = portal_page.build(link, _secret(), runtime().clock.now())
    flash = _flash()
    if flash and flash["post_id"] not in portal_page.shown_ids(view):
        flash["post_id"] = None  # the post is not on the page: show the notice at the top
    return render_template("portal/page.html", page=view, token=token, flash=flash,
                           csrf=portal.csrf_token(_secret(), token))


def _require(link: PortalToken, allowed: frozenset[str], what: str) -> None:
    if link.permissions not in allowed:
        raise PortalRefusal(403, "Not allowed", f"This link does not allow {what}.")


def _decide(token: str, post_id: int, what: str, decision: Callable[[PortalToken, Post], str | None], notice: str,
            errors: dict[type[Exception], str] | None = None):
    """What the approve and reject forms share: open the link, check the form and that the link may approve,
    load the client's post and apply ``decision`` to it; back to the post with ``notice`` (or the one
    ``decision`` returns), or with the error
    ``errors`` names for what ``decision`` raised (``not_pending`` when the post no longer waits for approval).
    """
    link = _open(token)
    _check_form(token)
    _require(link, portal.CAN_APPROVE, what)
    post = _client_post(link, post_id)
    refusals = {Conflict: "not_pending", **(errors or {})}
    try:
        chosen = decision(link, post)
    except tuple(refusals) as exc:
        code = next(code for kind, code in refusals.items() if isinstance(exc, kind))
        return _back(token, post_id, error=code)
    return _back(token, post_id, notice=chosen or notice)


@endpoint(bp, "/portal/<token>/posts/<int:post_id>/approve", ("POST",), auth=False,
          content_type=FORM, response_type="text/html", errors=(403, 409, 410),
          summary="Approve a post from the client portal (form)")
def approve(token, post_id):
    """Release the post's tasks (``post.approved``, a version by ``portal:<link>``); needs an "approve" link."""

    def release(link: PortalToken, post: Post) -> str | None:
        approved = approvals.review(runtime(), portal.principal(link), post, True)
        return "approved_draft" if approved.status == approvals.APPROVED else None

    return _decide(token, post_id, "approving posts", release, "approved")


@endpoint(bp, "/portal/<token>/posts/<int:post_id>/reject", ("POST",), auth=False,
          content_type=FORM, response_type="text/html", errors=(403, 409, 410),
          summary="Reject a post with a reason (form)")
def reject(token, post_id):
    """Cancel the post's tasks (``post.rejected`` carrying the reason, kept as a comment in the same transaction)."""

    def stop(link: PortalToken, post: Post) -> None:
        portal.reject(runtime(), link, post, _author(link), unstorable_text.strip(request.form.get("reason", "")))

    return _decide(token, post_id, "rejecting posts", stop, "rejected", REASON_ERRORS)


def _author(link: PortalToken) -> str:
    name = " ".join(unstorable_text.strip(request.form.get("author", "")).split())[:MAX_AUTHOR]
    return name or link.name or link.client.name


@endpoint(bp, "/portal/<token>/posts/<int:post_id>/comments", ("POST",), auth=False,
          content_type=FORM, response_type="text/html", errors=(403, 409, 410),
          summary="Comment on a post from the client portal (form)")
def comment(token, post_id):
    """Store the comment (``post.commented``); needs a "comment" or "approve" link."""
    link = _open(token)
    _check_form(token)
    _require(link, portal.CAN_COMMENT, "comments")
    post = _client_post(link, post_id)
    if post.status in portal_page.READ_ONLY:
        raise PortalRefusal(409, "Not possible any more", "This post was rejected or could not be published, "
                                                          "so it can no longer be commented on here.")
    try:
        comments.add_comment(runtime(), post, _author(link), unstorable_text.strip(request.form.get("body", "")),
                             link.id)
    except comments.EmptyBody:
        return _back(token, post_id, error="comment_empty")
    except comments.BodyTooLong:
        return _back(token, post_id, error="comment_too_long")
    return _back(token, post_id, notice="commented")
