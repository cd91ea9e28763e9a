"""Mastodon for Herald: connects accounts on any server, publishes statuses, posts first comments as
replies, pulls favourites, boosts and replies, and previews how a caption fits in 500 characters.

The tutorial in Herald's ``docs/plugins.md`` builds this file step by step.
"""

import datetime as dt
import html
import json
import re

from herald.sdk import (
    Action,
    ConnectedAccount,
    ConnectField,
    ConnectFlow,
    Platform,
    PlatformRejected,
    PlatformUnavailable,
    PublishOutcome,
    Setting,
    hookimpl,
    http,
)

# -- settings ---------------------------------------------------------------------------------------


def yes_no(text):
    """``1``/``true``/``yes`` or ``0``/``false``/``no``, as a bool."""
    if text.lower() not in ("1", "true", "yes", "0", "false", "no"):
        raise ValueError("say yes or no")
    return text.lower() in ("1", "true", "yes")


TIMEOUT = Setting("HERALD_MASTODON_TIMEOUT", 30.0, "Seconds one call to a Mastodon server may take.", parse=float)
ALLOW_PRIVATE = Setting("HERALD_MASTODON_ALLOW_PRIVATE", False,
                        "Let accounts live on servers at private or loopback addresses (tests, an intranet).",
                        parse=yes_no)


@hookimpl
def register_settings(register):
    register(TIMEOUT)
    register(ALLOW_PRIVATE)


# -- talking to a server ----------------------------------------------------------------------------

POOL = http.ConnectionPool()  # keep-alive connections to the servers, shared by every call


def call(method, server, path, token, config, *, form=None, key=None):
    """One call of the Mastodon API on ``server`` (an address a user gave, so checked first): the
    answer's status, headers and JSON body. Raises what :mod:`herald.sdk.http` raises."""
    target = http.check_url(server + path, allow_private=ALLOW_PRIVATE.value(config))
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    if key:  # Mastodon keeps a status's Idempotency-Key for an hour: the same key never posts twice
        headers["Idempotency-Key"] = key
    body = None
    if form is not None:
        body = json.dumps(form).encode()
        headers["Content-Type"] = "application/json"
    answer = http.send(method, target, body, headers, timeout=TIMEOUT.value(config), read_limit=2_000_000,
                       pool=POOL)
    try:
        data = json.loads(answer.body or b"null")
    except ValueError:
        data = None
    return answer.status, answer.headers, data


def error_of(status, data):
    """Mastodon's own words for a refusal (its bodies are ``{"error": "..."}``)."""
    said = data.get("error") if isinstance(data, dict) else None
    return f"Mastodon answered {status}: {said or 'no reason given'}"


def seconds_until(reset):
    """Seconds until an ``X-RateLimit-Reset`` time (ISO 8601, the server's clock), or None."""
    try:
        return max(0.0, (dt.datetime.fromisoformat(reset) - dt.datetime.now(dt.UTC)).total_seconds())
    except (TypeError, ValueError):
        return None


def unavailable(status, headers, data):
    """The exception for an answer worth asking again later (429, 5xx)."""
    return PlatformUnavailable(error_of(status, data), retry_after=seconds_until(headers.get("x-ratelimit-reset")))


# -- the platform -----------------------------------------------------------------------------------

LIMIT = 500
SERVER = ConnectField("server", "the address of the account's Mastodon server, such as https://mastodon.social",
                      pattern=r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?/?")
# How long after the first send we may send again with the same key: Mastodon keeps a key for an hour
# from when it created the status; the margin covers the two clocks disagreeing.
KEY_WINDOW = dt.timedelta(minutes=50)


class MastodonPlatform(Platform):
    """A Mastodon account on any server: the user gives the server's address and an access token with
    the ``read`` and ``write:statuses`` scopes."""

    name = "mastodon"
    post_types = ("post",)
    connect_flow = ConnectFlow(kind="token", fields=(SERVER,))

    def connect(self, token, *, config, details):
        server = details["server"].rstrip("/")
        if server.startswith("http://") and not ALLOW_PRIVATE.value(config):
            raise PlatformRejected("Mastodon servers answer on https://.", field="details.server")
        try:
            status, headers, data = call("GET", server, "/api/v1/accounts/verify_credentials", token, config)
        except (http.BlockedURL, http.Unresolvable) as exc:
            raise PlatformRejected(f"{server} cannot be used: {exc}", field="details.server") from None
        except (http.SendFailed, http.AnswerLost) as exc:
            raise PlatformUnavailable(f"Could not reach {server}: {exc}") from None
        if status == 401 or status == 403:
            raise PlatformRejected(f"{server} refused this token: {error_of(status, data)}")
        if status == 429 or status >= 500:
            raise unavailable(status, headers, data)
        if status != 200 or not isinstance(data, dict) or "id" not in data:
            raise PlatformRejected(f"{server} does not answer as a Mastodon server ({status}).",
                                   field="details.server")
        host = server.split("://", 1)[1]
        return ConnectedAccount(external_id=data["id"], username=f"{data['acct']}@{host}", token=token,
                                settings={"server": server})

    def publish(self, ctx):
        caption = ctx.post.caption
        if length(caption) > LIMIT:
            return PublishOutcome.permanent(f"The caption counts {length(caption)} characters; "
                                            f"Mastodon allows {LIMIT}.")
        if "first_sent_at" not in ctx.state:  # committed before the status goes out: reconcile reads it
            ctx.save_state(first_sent_at=ctx.now().isoformat())
        return self.send_status(ctx)

    def send_status(self, ctx):
        """POST the status with the task's key; the outcome of Mastodon's answer."""
        account = ctx.account
        try:
            status, headers, data = call("POST", account.settings["server"], "/api/v1/statuses", account.token,
                                         ctx.config, form={"status": ctx.post.caption, "visibility": "public"},
                                         key=ctx.idempotency_key)
        except http.AnswerLost as exc:  # it went out: the status may exist
            return PublishOutcome.transient(f"Mastodon's answer was lost: {exc}", maybe_live=True)
        except (http.SendFailed, http.BlockedURL, http.Unresolvable) as exc:  # nothing went out
            return PublishOutcome.transient(f"Could not reach {account.settings['server']}: {exc}")
        if status == 200:
            return PublishOutcome.published(data["id"], url=data.get("url"))
        if status == 429 or status >= 500:
            return PublishOutcome.transient(error_of(status, data),
                                            seconds_until(headers.get("x-ratelimit-reset")))
        if status == 401:  # the token itself: Herald marks the account and spares its other posts
            return PublishOutcome.permanent(error_of(status, data), account_status="invalid")
        return PublishOutcome.permanent(error_of(status, data))  # 422 rejected status, 403, 404, ...

    def reconcile(self, ctx):
        first_sent_at = ctx.state.get("first_sent_at")
        if first_sent_at is None:
            return None  # the status never went out: publish may run
        if ctx.now() - dt.datetime.fromisoformat(first_sent_at) < KEY_WINDOW:
            # Within the key's hour, sending again is safe: Mastodon answers with the status it created
            # the first time, or creates it now if the first never arrived.
            return self.send_status(ctx)
        return PublishOutcome.unconfirmed("Herald lost Mastodon's answer more than an hour ago; look at the "
                                          "account's profile to see whether the status was posted.")

    def post_comment(self, account, platform_post_id, message, *, config):
        try:
            status, headers, data = call("POST", account.settings["server"], "/api/v1/statuses", account.token,
                                         config, form={"status": message, "in_reply_to_id": platform_post_id},
                                         key=f"herald-comment-{platform_post_id}")
        except http.AnswerLost as exc:
            raise PlatformUnavailable(f"Mastodon's answer was lost: {exc}", uncertain=True) from None
        except (http.SendFailed, http.BlockedURL, http.Unresolvable) as exc:
            raise PlatformUnavailable(f"Could not reach {account.settings['server']}: {exc}") from None
        if status == 200:
            return data["id"]
        if status == 429 or status >= 500:
            raise unavailable(status, headers, data)
        raise PlatformRejected(error_of(status, data))

    def find_comment(self, account, platform_post_id, message, *, config):
        data = self.read(account, f"/api/v1/statuses/{platform_post_id}/context", config)
        for reply in data["descendants"]:
            if (reply["in_reply_to_id"] == platform_post_id and reply["account"]["id"] == account.external_id
                    and same_text(reply["content"], message)):
                return reply["id"]
        return None

    def fetch_metrics(self, account, platform_post_id, *, config):
        data = self.read(account, f"/api/v1/statuses/{platform_post_id}", config)
        return {"likes": data["favourites_count"], "shares": data["reblogs_count"],
                "comments": data["replies_count"]}

    def read(self, account, path, config):
        """GET ``path`` on the account's server: the JSON body, or the exception its failure means."""
        try:
            status, headers, data = call("GET", account.settings["server"], path, account.token, config)
        except (http.SendFailed, http.AnswerLost, http.BlockedURL, http.Unresolvable) as exc:
            raise PlatformUnavailable(f"Could not reach {account.settings['server']}: {exc}") from None
        if status == 200:
            return data
        if status == 429 or status >= 500:
            raise unavailable(status, headers, data)
        raise PlatformRejected(error_of(status, data))


def same_text(content, message):
    """Whether a status's HTML ``content`` shows ``message`` (Mastodon renders the text it was given)."""
    shown = html.unescape(re.sub(r"<[^>]+>", "", content))
    return "".join(shown.split()) == "".join(message.split())


@hookimpl
def register_platforms(register):
    register(MastodonPlatform())


# -- an action: how a caption fits ------------------------------------------------------------------

LINK = re.compile(r"https?://\S+")


def length(text):
    """The length Mastodon counts, or a little more: every link counts as 23 characters."""
    return len(LINK.sub("x" * 23, text))


def truncate(text, limit=LIMIT):
    """``text`` cut to ``limit`` characters, ending with "…" when anything was cut."""
    if length(text) <= limit:
        return text
    cut = text[:limit]
    while length(cut) > limit - 1:
        cut = cut[:-1]
    return cut.rstrip() + "…"


def split(text, limit=LIMIT):
    """``text`` as a thread: parts cut between words, numbered "(1/3)" when there are several."""
    if length(text) <= limit:
        return [text]
    room = limit - len(" (99/99)")
    parts = [""]
    for word in re.findall(r"\S+\s*", text):
        pieces = [word] if length(word) <= room else [word[i:i + room] for i in range(0, len(word), room)]
        for piece in pieces:
            if parts[-1] and length(parts[-1] + piece.rstrip()) > room:
                parts.append("")
            parts[-1] += piece
    return [f"{part.strip()} ({n}/{len(parts)})" for n, part in enumerate(parts, 1)]


PREVIEW_SCHEMA = {
    "type": "object",
    "required": ["action", "caption"],
    "additionalProperties": False,
    "properties": {
        "action": {"const": "mastodon_preview"},
        "caption": {"type": "string", "maxLength": 20000},
        "mode": {"enum": ["thread", "truncate"], "default": "thread"},
    },
}


def preview(ctx, payload):
    """How the caption fits Mastodon's limit: as a thread of statuses, or truncated to one."""
    caption = payload["caption"]
    parts = [truncate(caption)] if payload.get("mode") == "truncate" else split(caption)
    return {"length": length(caption), "limit": LIMIT, "fits": length(caption) <= LIMIT, "parts": parts}


@hookimpl
def register_actions(register):
    register(Action("mastodon_preview", preview, PREVIEW_SCHEMA, scope="posts:read",
                    description="Show how a caption fits Mastodon's 500 characters."))
