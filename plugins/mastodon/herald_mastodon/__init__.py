"""Mastodon for Herald: connects accounts on any server, publishes statuses with images or a video,
posts first comments as replies, pulls favourites, boosts and replies, and checks a post against the
server's limits before it is queued.

The tutorial in Herald's ``docs/plugins.md`` builds this plugin step by step; docs/platforms/mastodon.md
lists the endpoints, limits and errors it relies on. Modules: :mod:`.client` (settings, one call of the
API), :mod:`.rules` (what a server takes), :mod:`.media` (uploads), :mod:`.preview` (an action).
"""

import datetime as dt
import html
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
    TokenHealth,
    hookimpl,
    http,
)

from . import media
from .client import ALLOW_PRIVATE, TIMEOUT, call, error_of, read, seconds_until, unavailable
from .preview import PREVIEW_SCHEMA, preview
from .rules import DEFAULTS, limits_of, post_rules, refused_by_server, too_long


@hookimpl
def register_settings(register):
    register(TIMEOUT)
    register(ALLOW_PRIVATE)


SERVER = ConnectField("server", "the address of the account's Mastodon server, such as https://mastodon.social",
                      pattern=r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?/?")

# How long after the first send we may send again with the same key: Mastodon keeps a key for an hour
# from when it created the status; the margin covers the two clocks disagreeing.
KEY_WINDOW = dt.timedelta(minutes=50)

VISIBILITIES = ("public", "unlisted", "private", "direct")
OPTIONS_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "visibility": {"enum": list(VISIBILITIES),
                       "description": "Who sees the status; by default the account's own default on its server."},
        "spoiler_text": {"type": "string", "maxLength": 500,
                         "description": "A content warning shown before the text (it counts toward the length)."},
        "sensitive": {"type": "boolean", "description": "Hide the media behind a warning."},
        "language": {"type": "string", "pattern": "^[a-z]{2}$", "description": "ISO 639-1 code of the text."},
    },
}


class MastodonPlatform(Platform):
    """A Mastodon account on any server: the user gives the server's address and an access token with
    the ``read``, ``write:statuses`` and ``write:media`` scopes."""

    name = "mastodon"
    post_types = ("post", "carousel")  # a carousel is a status with several images
    connect_flow = ConnectFlow(kind="token", fields=(SERVER,))
    options_schema = OPTIONS_SCHEMA

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
                                settings={"server": server, "limits": instance_limits(server, token, config)})

    def rules(self, post):
        return post_rules(post)

    def check_post(self, post):
        return too_long(post)  # Mastodon's default limit; the account's own server's is checked before sending

    def publish(self, ctx):
        problem = refused_by_server(ctx.post, {**DEFAULTS, **ctx.account.settings.get("limits", {})})
        if problem:
            return PublishOutcome.permanent(problem)
        waiting = media.prepare(ctx)  # uploads the images or video, and waits until the server processed them
        if waiting is not None:
            return waiting
        if "first_sent_at" not in ctx.state:  # committed before the status goes out: reconcile reads it
            ctx.save_state(first_sent_at=ctx.now().isoformat())
        return self.send_status(ctx)

    def check(self, ctx):
        return self.publish(ctx)  # the media were still processing: go on from what was saved

    def send_status(self, ctx):
        """POST the status with the task's key; the outcome of Mastodon's answer."""
        account = ctx.account
        try:
            status, headers, data = call("POST", account.settings["server"], "/api/v1/statuses", account.token,
                                         ctx.config, form=status_form(ctx), key=ctx.idempotency_key)
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
        data = read(account, f"/api/v1/statuses/{platform_post_id}/context", config)
        for reply in data["descendants"]:
            if (reply["in_reply_to_id"] == platform_post_id and reply["account"]["id"] == account.external_id
                    and same_text(reply["content"], message)):
                return reply["id"]
        return None

    def fetch_metrics(self, account, platform_post_id, *, config):
        data = read(account, f"/api/v1/statuses/{platform_post_id}", config)
        return {"likes": data["favourites_count"], "shares": data["reblogs_count"],
                "comments": data["replies_count"]}

    def token_health(self, account, *, config):
        try:
            read(account, "/api/v1/accounts/verify_credentials", config)
        except PlatformRejected as exc:  # 401: revoked; Mastodon's tokens do not otherwise expire
            return TokenHealth("invalid", reason=exc.message)
        return TokenHealth("active")


def status_form(ctx):
    """The body of ``POST /api/v1/statuses``: the text, the processed media and the post's options.
    Without a ``visibility`` option, Mastodon applies the account's own default."""
    form = {"status": ctx.post.caption}
    if ctx.state.get("media_ids"):
        form["media_ids"] = ctx.state["media_ids"]
    form.update({name: value for name, value in ctx.post.options.items() if name in OPTIONS_SCHEMA["properties"]})
    return form


def instance_limits(server, token, config):
    """The server's limits (``GET /api/v2/instance``), Mastodon's defaults when it does not say."""
    try:
        status, _, data = call("GET", server, "/api/v2/instance", token, config)
    except (http.SendFailed, http.AnswerLost) as exc:
        raise PlatformUnavailable(f"Could not reach {server}: {exc}") from None
    return limits_of(data if status == 200 else None)  # 404 before Mastodon 4.0: the defaults


def same_text(content, message):
    """Whether a status's HTML ``content`` shows ``message`` (Mastodon renders the text it was given)."""
    shown = html.unescape(re.sub(r"<[^>]+>", "", content))
    return "".join(shown.split()) == "".join(message.split())


@hookimpl
def register_platforms(register):
    register(MastodonPlatform())


@hookimpl
def register_actions(register):
    register(Action("mastodon_preview", preview, PREVIEW_SCHEMA, scope="posts:read",
                    description="Show how a caption fits Mastodon's 500 characters."))
