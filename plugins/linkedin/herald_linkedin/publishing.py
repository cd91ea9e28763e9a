"""Publishing a post on a Page, and finding an earlier attempt's post, never posting twice.

Steps, each saved before the next: the images are uploaded (:mod:`.images`); once LinkedIn has
processed them, ``publish_started_at`` (the first attempt) and ``publish_last_attempt_at`` (the latest)
are committed and ``POST /rest/posts`` creates the post, whose URN comes back in ``x-restli-id``. When
a later call finds those times saved without a post id, it first looks for the post on the Page
(:mod:`.lookup`): one match is ``published``; none means no attempt reached LinkedIn, so the post may
be sent; two, or a list that cannot be read, make the task ``unconfirmed``, never sent again.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from herald.sdk import PublishOutcome, TaskContext
from herald_linkedin import images, lookup, settings
from herald_linkedin.client import LinkedInClient
from herald_linkedin.errors import DUPLICATE, LinkedInError
from herald_linkedin.text import escape

MATCH_SLACK = dt.timedelta(seconds=60)  # clock difference allowed between Herald and LinkedIn
MAX_LOOKS = 3  # reads of the Page failing for a passing reason before the task is unconfirmed
IMAGE_WAIT = 5.0  # seconds before asking again whether LinkedIn has processed the images
FEED = "https://www.linkedin.com/feed/update/{}/"
UNCONFIRMED_HINT = ("Check the Page: if the post is missing, publish it again. Herald does not send it again "
                    "itself, so it is never posted twice.")


def post_url(urn: str) -> str:
    """Where a post is shown on linkedin.com."""
    return FEED.format(urn)


def author_of(ctx: TaskContext) -> str:
    """The Page's URN."""
    return ctx.account.settings.get("organization") or f"urn:li:organization:{ctx.account.external_id}"


def body_for(ctx: TaskContext, urns: list[str]) -> dict[str, Any]:
    """The Posts API body: the caption as ``little`` plain text, public, on the main feed."""
    body: dict[str, Any] = {
        "author": author_of(ctx), "commentary": escape(ctx.post.caption), "visibility": "PUBLIC",
        "distribution": {"feedDistribution": "MAIN_FEED", "targetEntities": [], "thirdPartyDistributionChannels": []},
        "lifecycleState": "PUBLISHED", "isReshareDisabledByAuthor": False}
    alt = [media.alt_text for media in ctx.post.media if media.kind == "image"]
    shown = [{"id": urn, **({"altText": text} if text else {})} for urn, text in zip(urns, alt, strict=False)]
    if len(shown) == 1:
        body["content"] = {"media": shown[0]}
    elif shown:
        body["content"] = {"multiImage": {"images": shown}}
    return body


def _time(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    parsed = dt.datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _now(ctx: TaskContext) -> str:
    return ctx.now().astimezone(dt.UTC).isoformat()


def advance(ctx: TaskContext) -> PublishOutcome:
    """``publish`` and ``check``: take the post as far as it goes from what ``ctx.state`` holds."""
    client = LinkedInClient(ctx.config, ctx.account.token)
    try:
        if ctx.state.get("platform_post_id"):
            return PublishOutcome.published(ctx.state["platform_post_id"], url=ctx.state.get("url"))
        if ctx.state.get("publish_started_at"):
            found = look(ctx, client)
            if found:
                return found
        urns = images.upload_all(ctx, client, author_of(ctx))
        if images.not_ready(client, urns):
            return PublishOutcome.pending(IMAGE_WAIT)
        return create(ctx, client, urns)
    except LinkedInError as err:
        return err.outcome()


def create(ctx: TaskContext, client: LinkedInClient, urns: list[str]) -> PublishOutcome:
    """Record the attempt, then ``POST /rest/posts``."""
    now = _now(ctx)
    earlier = ctx.state.get("publish_started_at")  # an attempt before this one may have reached LinkedIn
    ctx.save_state(publish_started_at=earlier or now, publish_last_attempt_at=now)
    try:
        answer = client.post("posts", body_for(ctx, urns))
        urn = answer.headers.get("x-restli-id")
    except LinkedInError as err:
        if not (err.uncertain or err.kind == DUPLICATE):
            raise
        urn, failure = None, err
    else:
        failure = None
    if urn:
        ctx.remember(platform_post_id=urn, url=post_url(urn))  # committed with the outcome
        return PublishOutcome.published(urn, url=post_url(urn))
    found = look(ctx, client)  # the post may be there: an answer lost, or LinkedIn calling it a repeat
    if found:
        return found
    if failure is not None and failure.kind == DUPLICATE:
        if earlier:  # the repeat may be this task's own earlier attempt, which the Page did not list (yet)
            repeated = failure.duplicate_of or "a post on the Page"
            return PublishOutcome.unconfirmed(f"LinkedIn refused the post as a repeat of {repeated}, and Herald "
                                              "did not find its earlier attempt among the Page's posts. "
                                              + UNCONFIRMED_HINT)
        return failure.outcome()  # an older post with this text, not this task's
    if failure is not None:  # the answer was lost and the Page does not show the post (yet): look again later
        return failure.outcome()
    return PublishOutcome.transient("LinkedIn did not say which post it made. Herald looks for it before sending "
                                    "again.", maybe_live=True)


def reconcile(ctx: TaskContext) -> PublishOutcome | None:
    """After a crash: ``published`` when the Page has the post, None when no attempt was sent."""
    if ctx.state.get("platform_post_id"):
        return PublishOutcome.published(ctx.state["platform_post_id"], url=ctx.state.get("url"))
    if not ctx.state.get("publish_started_at"):
        return None
    return look(ctx, LinkedInClient(ctx.config, ctx.account.token))


def look(ctx: TaskContext, client: LinkedInClient) -> PublishOutcome | None:
    """Whether an earlier attempt made the post: ``published``, None (certainly not), ``unconfirmed``
    (cannot tell), or ``transient`` when the read failed for a passing reason and may be tried again."""
    try:
        return find(ctx, client)
    except lookup.Undecided as exc:
        return PublishOutcome.unconfirmed(f"Herald could not tell whether an earlier attempt already published "
                                          f"this post: {exc.reason}. {UNCONFIRMED_HINT}")
    except LinkedInError as err:
        looks = int(ctx.state.get("failed_looks") or 0) + 1
        if err.retryable and looks < MAX_LOOKS:
            ctx.save_state(failed_looks=looks)
            return PublishOutcome.transient(f"{err.reason} Herald reads the Page again before sending the post, "
                                            "since an earlier attempt may have published it.", err.retry_after,
                                            maybe_live=True)
        return PublishOutcome.unconfirmed(f"Herald could not read the Page to see whether an earlier attempt "
                                          f"already published this post: {err.reason} {UNCONFIRMED_HINT}")


def find(ctx: TaskContext, client: LinkedInClient) -> PublishOutcome | None:
    """The post within the window the recorded attempts bound, or None."""
    started = _time(ctx.state.get("publish_started_at"))
    if started is None:
        return None
    last = _time(ctx.state.get("publish_last_attempt_at")) or started
    span = dt.timedelta(seconds=settings.TIMEOUT.value(ctx.config)) + MATCH_SLACK
    found = lookup.matches(client, author_of(ctx), ctx.post.caption, list(ctx.state.get("image_urns") or []),
                           since=started - MATCH_SLACK, until=max(last, started) + span)
    if len(found) > 1:
        raise lookup.Undecided(f"{len(found)} posts on the Page have this text within the time of the attempts "
                               f"({', '.join(sorted(item['id'] for item in found))})")
    if not found:
        return None
    urn = found[0]["id"]
    ctx.remember(platform_post_id=urn, url=post_url(urn))
    return PublishOutcome.published(urn, url=post_url(urn))
