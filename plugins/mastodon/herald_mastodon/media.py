"""A post's images and video on Mastodon: each file is fetched from Herald's signed link and uploaded
with ``POST /api/v2/media`` (its alt text as ``description``); a large file answers 202 while the server
processes it, and ``GET /api/v1/media/:id`` says when it is done (``url`` set). A status can only use
processed media (https://docs.joinmastodon.org/methods/media/).

Uploads carry no idempotency key: one whose answer was lost leaves at most an unused attachment, which
Mastodon deletes within a day; it never makes a second status.
"""

import datetime as dt
import uuid

from herald.sdk import PublishOutcome, http

from .client import TIMEOUT, call, error_of, seconds_until

POLL_SECONDS = 5  # how long to wait before asking again whether a file is processed
PROCESSING_LIMIT = dt.timedelta(minutes=30)  # then Herald stops waiting for the server


def prepare(ctx):
    """Upload the post's media not uploaded yet and wait for the server to process them: None when every
    file is ready (their ids in ``ctx.state["media_ids"]``), else the outcome to answer for now."""
    uploaded = list(ctx.state.get("media_ids") or [None] * len(ctx.post.media))
    for index, media in enumerate(ctx.post.media):
        if uploaded[index] is None:
            outcome, media_id = upload(ctx, media)
            if outcome is not None:
                return outcome
            uploaded[index] = media_id
            ctx.save_state(media_ids=uploaded, media_started_at=ctx.state.get("media_started_at")
                           or ctx.now().isoformat())
    waiting = [media_id for media_id in uploaded if media_id not in ctx.state.get("media_ready", [])]
    for media_id in waiting:
        outcome = processed(ctx, media_id)
        if outcome is not None:
            return outcome
        ctx.remember(media_ready=[*ctx.state.get("media_ready", []), media_id])
    return None


def upload(ctx, media):
    """``(None, id)`` once the server has the file, else ``(outcome, None)``."""
    try:
        content = http.request("GET", media.url, headers={}, timeout=TIMEOUT.value(ctx.config))
    except (http.SendFailed, http.AnswerLost) as exc:
        return PublishOutcome.transient(f"Could not read {media.id} from Herald's public address: {exc}"), None
    if content.status != 200:
        return PublishOutcome.transient(f"Herald's link to {media.id} answered {content.status}."), None
    body, content_type = multipart(media, content.body)
    account = ctx.account
    try:
        status, headers, data = call("POST", account.settings["server"], "/api/v2/media", account.token, ctx.config,
                                     body=body, content_type=content_type)
    except (http.SendFailed, http.AnswerLost, http.BlockedURL, http.Unresolvable) as exc:
        return PublishOutcome.transient(f"Could not upload {media.id} to {account.settings['server']}: {exc}"), None
    if status in (200, 202) and isinstance(data, dict) and data.get("id"):
        return None, str(data["id"])
    return failure(status, headers, data), None


def processed(ctx, media_id):
    """None when the server has processed ``media_id``, else the outcome to answer for now."""
    account = ctx.account
    try:
        status, headers, data = call("GET", account.settings["server"], f"/api/v1/media/{media_id}", account.token,
                                     ctx.config)
    except (http.SendFailed, http.AnswerLost, http.BlockedURL, http.Unresolvable):
        return PublishOutcome.pending(POLL_SECONDS)  # nothing is sent by asking: ask again
    if status == 200 and isinstance(data, dict) and data.get("url"):
        return None
    if status in (200, 206):  # 206: still processing
        started = dt.datetime.fromisoformat(ctx.state["media_started_at"])
        if ctx.now() - started > PROCESSING_LIMIT:
            return PublishOutcome.permanent(f"The server was still processing media {media_id} after "
                                            f"{PROCESSING_LIMIT.seconds // 60} minutes.")
        return PublishOutcome.pending(POLL_SECONDS)
    return failure(status, headers, data)


def failure(status, headers, data):
    """The outcome of a refused media call: later for 429 and 5xx, never for the rest."""
    if status == 429 or status >= 500:
        return PublishOutcome.transient(error_of(status, data), seconds_until(headers.get("x-ratelimit-reset")))
    if status == 401:
        return PublishOutcome.permanent(error_of(status, data), account_status="invalid")
    return PublishOutcome.permanent(error_of(status, data))


def multipart(media, content):
    """The ``multipart/form-data`` body of an upload: the file, and its alt text as ``description``."""
    boundary = f"herald-{uuid.uuid4().hex}"
    extension = media.content_type.rsplit("/", 1)[-1]
    parts = [(f'Content-Disposition: form-data; name="file"; filename="{media.id}.{extension}"\r\n'
              f"Content-Type: {media.content_type}\r\n\r\n").encode() + content]
    if media.alt_text:
        parts.append(b'Content-Disposition: form-data; name="description"\r\n'
                     b"Content-Type: text/plain; charset=utf-8\r\n\r\n" + media.alt_text.encode())
    body = b"".join(f"--{boundary}\r\n".encode() + part + b"\r\n" for part in parts) + f"--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"
