"""The Threads publishing flow for one task, as a resumable state machine (docs/platforms/threads.md).

Steps, each saved in the task state before the next request goes out:

1. create the container(s) (``POST /{user}/threads``): a carousel's items first (``children``), then
   ``container_id`` (with ``container_created_at``);
2. read the container's ``status``: ``IN_PROGRESS`` answers ``pending`` (no worker waits),
   ``FINISHED`` goes on, ``ERROR`` fails with Threads' reason (or starts over when a new upload may
   help), ``EXPIRED`` starts over, ``PUBLISHED`` means an earlier attempt published it;
3. save ``publish_requested_at``/``publish_last_requested_at``, then ``POST /{user}/threads_publish``;
   save ``media_id``.

A container becomes at most one post, so every call starts from the saved container and reads its
status before publishing: a crash or a lost answer can never make a second post. The status does not
say which post a ``PUBLISHED`` container became, so it is looked up among the account's posts created
while it was being published (every page of that window), by its text; the container id stands in
when that does not single one out.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from herald.sdk import PublishingQuota, PublishOutcome, TaskContext
from herald_threads.client import MISSING, ThreadsClient, ThreadsError, same_text

POLL = 10.0  # seconds between status reads (Meta suggests ~30 s for media; text is ready at once)
POLL_VIDEO = 60.0  # "once per minute" (Meta's troubleshooting guide)
CONFIRM_AFTER = 5.0  # after a lost threads_publish answer, read the container again this soon
MAX_PROCESSING = dt.timedelta(minutes=30)
MAX_ATTEMPTS = 3  # fresh containers tried for one task before giving up
QUOTA_WAIT = 3600.0
MATCH_SLACK = dt.timedelta(minutes=2)  # clocks of Herald and Meta may differ
REQUEST_SPAN = dt.timedelta(seconds=60)  # how long after a publish request its post may be dated
PAGE_SIZE = 100
MAX_PAGES = 30
RETRY_UPLOAD = ("FAILED_DOWNLOADING_VIDEO", "UNKNOWN")  # a new container may succeed
MAX_ALT_TEXT = 1000  # characters Threads takes in ``alt_text``
FORGET = {"container_id": None, "container_created_at": None, "publish_requested_at": None,
          "publish_last_requested_at": None, "children": [], "children_created_at": None}


def read_quota(client: ThreadsClient, user_id: str) -> PublishingQuota | None:
    """The profile's use of the 250-posts quota (``threads_publishing_limit``), or None when not said."""
    item = (client.get(f"{user_id}/threads_publishing_limit", fields="quota_usage,config").get("data") or [{}])[0]
    config = item.get("config") or {}
    if config.get("quota_total") is None:
        return None
    return PublishingQuota(used=int(item.get("quota_usage") or 0), limit=int(config["quota_total"]),
                           window_seconds=float(config.get("quota_duration") or 86400))


def parse_time(value: str | None) -> dt.datetime | None:
    """A Threads timestamp (``2023-10-17T05:42:03+0000``) or an ISO string, as an aware datetime."""
    if not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


class Publisher:
    """Moves one task through the container flow, from whatever ``ctx.state`` holds."""

    def __init__(self, ctx: TaskContext, client: ThreadsClient):
        self.ctx = ctx
        self.client = client
        self.user = ctx.account.external_id
        self.poll = POLL_VIDEO if any(item.kind == "video" for item in ctx.post.media) else POLL

    @property
    def state(self) -> dict[str, Any]:
        return self.ctx.state

    def settle_error(self, err: ThreadsError) -> PublishOutcome:
        """The outcome of an error that ended a step: ``maybe_live`` once the current container was sent
        to ``threads_publish`` and its post is not known (the task then never ends ``failed``)."""
        live = bool(self.state.get("publish_requested_at")) and not self.state.get("media_id")
        return err.outcome(maybe_live=live)

    # -- the flow -----------------------------------------------------------------------------

    def run(self) -> PublishOutcome:
        """Take the next step(s) until the post is published or Threads makes us wait."""
        if self.state.get("media_id"):
            return PublishOutcome.published(self.state["media_id"], url=self.state.get("permalink"))
        if not self.state.get("container_id"):
            waiting = self._create()
            if waiting:
                return waiting
        return self._advance()

    def reconcile(self) -> PublishOutcome | None:
        """After a crash: what the saved container says, without creating or publishing anything."""
        if self.state.get("media_id"):
            return PublishOutcome.published(self.state["media_id"], url=self.state.get("permalink"))
        container_id = self.state.get("container_id")
        if not container_id:
            return None  # no container, or only a carousel's items: nothing can be live
        info = self._status(container_id)
        status = info.get("status")
        if status == "PUBLISHED":
            return self._found()
        if status in ("FINISHED", "IN_PROGRESS"):  # not published: ``check`` carries on with it
            return PublishOutcome.pending(CONFIRM_AFTER if status == "FINISHED" else self.poll,
                                          container_id=container_id)
        if status == "ERROR" and info.get("error_message") not in RETRY_UPLOAD:
            return self._failed(info)
        self.ctx.save_state(**FORGET)  # EXPIRED, or an ERROR a new container may fix: never published
        return None

    def _create(self) -> PublishOutcome | None:
        post = self.ctx.post
        if len(post.media) > 1:
            waiting = self._create_children()
            if waiting:
                return waiting
            params = {"media_type": "CAROUSEL", "children": ",".join(self.state["children"]), "text": post.caption}
        elif post.media:
            params = dict(self._media_params(post.media[0]), text=post.caption)
        else:
            params = {"media_type": "TEXT", "text": post.caption}
        answer = self.client.post(f"{self.user}/threads", **params,
                                  reply_control=(post.options or {}).get("reply_control"))
        self.ctx.save_state(container_id=str(answer["id"]), container_created_at=self.ctx.now().isoformat(),
                            publish_requested_at=None)
        return None

    @staticmethod
    def _media_params(media) -> dict[str, str]:
        alt = {"alt_text": media.alt_text[:MAX_ALT_TEXT]} if media.alt_text else {}
        if media.kind == "video":
            return {"media_type": "VIDEO", "video_url": media.url, **alt}
        return {"media_type": "IMAGE", "image_url": media.url, **alt}

    def _create_children(self) -> PublishOutcome | None:
        """Create the carousel's item containers (reusing saved ones) and wait until every one is ready."""
        children = list(self.state.get("children") or [])
        if not children:
            self.ctx.save_state(children_created_at=self.ctx.now().isoformat())
        for media in self.ctx.post.media[len(children):]:
            answer = self.client.post(f"{self.user}/threads", **self._media_params(media), is_carousel_item=True)
            children.append(str(answer["id"]))
            self.ctx.save_state(children=children)
        for child in children:
            info = self._status(child)
            status = info.get("status")
            if status == "IN_PROGRESS":
                return self._too_slow("children_created_at") or PublishOutcome.pending(self.poll, children=children)
            if status == "ERROR":
                return self._failed(info)
            if status == "EXPIRED":
                self.ctx.save_state(children=[])
                return self._create_children()
        return None

    def _advance(self) -> PublishOutcome:
        container_id = self.state["container_id"]
        info = self._status(container_id)
        status = info.get("status")
        if status == "PUBLISHED":
            return self._found()
        if status == "FINISHED":
            return self._publish(container_id)
        if status == "IN_PROGRESS":
            return self._too_slow("container_created_at") or PublishOutcome.pending(self.poll,
                                                                                    container_id=container_id)
        if status == "ERROR":
            return self._failed(info)
        if status == "EXPIRED":  # not published within 24 hours: it never was
            return self._start_over("The Threads container expired before it was published.")
        return PublishOutcome.transient(f"Threads answered an unexpected container status {status!r}; Herald will "
                                        "check again.", self.poll,
                                        maybe_live=bool(self.state.get("publish_requested_at")))

    def _publish(self, container_id: str) -> PublishOutcome:
        now = self.ctx.now().isoformat()  # the first and the latest request bound the search for the post
        self.ctx.save_state(publish_requested_at=self.state.get("publish_requested_at") or now,
                            publish_last_requested_at=now)
        try:
            answer = self.client.post(f"{self.user}/threads_publish", creation_id=container_id)
        except ThreadsError as err:
            if err.uncertain:
                return PublishOutcome.pending(CONFIRM_AFTER, container_id=container_id)  # the status will say
            if err.kind == MISSING:  # Threads does not know the container yet (or lost it)
                return self._too_slow("container_created_at", start_over=True) \
                    or PublishOutcome.pending(self.poll, container_id=container_id)
            if not err.retryable:
                waiting = self._quota_outcome()
                if waiting:
                    return waiting
            # Threads answered: this request published nothing, and the status read just before said no
            # earlier one had (a task refused here ends failed, not unconfirmed).
            return err.outcome()
        media_id = str(answer["id"])
        self.ctx.save_state(media_id=media_id)
        permalink = self._permalink(media_id)
        self.ctx.remember(permalink=permalink)
        return PublishOutcome.published(media_id, url=permalink)

    def _quota_outcome(self) -> PublishOutcome | None:
        """After a refusal of ``threads_publish``: ``transient`` when the profile used its 250 posts of 24
        hours (Threads' refusal for it has no documented code), else None."""
        try:
            quota = read_quota(self.client, self.user)
        except ThreadsError:
            return None
        if quota is None or quota.used < quota.limit:
            return None
        return PublishOutcome.transient(
            f"The account has published {quota.used} of the {quota.limit} posts Threads allows through the API in "
            f"{quota.window_seconds / 3600:g} hours; Herald will try again in an hour.", QUOTA_WAIT)

    # -- helpers ------------------------------------------------------------------------------

    def _start_over(self, why: str) -> PublishOutcome:
        """Forget the containers and make new ones, at most ``MAX_ATTEMPTS`` times per task (only ever for
        containers that were never published)."""
        attempts = int(self.state.get("container_attempts") or 1) + 1
        if attempts > MAX_ATTEMPTS:
            return PublishOutcome.permanent(f"{why} Threads could not take the post in {MAX_ATTEMPTS} attempts: check "
                                            "its media (JPEG or PNG images; MP4 or MOV videos).")
        self.ctx.save_state(**FORGET, container_attempts=attempts)
        return self.run()

    def _too_slow(self, started_key: str, *, start_over: bool = False) -> PublishOutcome | None:
        """Past ``MAX_PROCESSING`` since ``started_key``: a new container (``start_over``) or ``permanent``."""
        started = parse_time(self.state.get(started_key))
        if started is None or self.ctx.now() - started <= MAX_PROCESSING:
            return None
        minutes = int(MAX_PROCESSING.total_seconds() // 60)
        if start_over:
            return self._start_over(f"Threads still did not know the container {minutes} minutes after it was made.")
        return PublishOutcome.permanent(f"Threads was still processing the media {minutes} minutes after it was "
                                        "uploaded. Check the video (MP4 or MOV, H.264 or HEVC, at most 5 minutes).")

    def _status(self, container_id: str) -> dict[str, Any]:
        return self.client.get(container_id, fields="status,error_message")

    def _failed(self, info: dict[str, Any]) -> PublishOutcome:
        """A container in ERROR: a new upload when that may help, else Threads' reason."""
        reason = info.get("error_message") or "UNKNOWN"
        if reason in RETRY_UPLOAD:
            return self._start_over(f"Threads could not process the media ({reason}).")
        return PublishOutcome.permanent(f"Threads could not process the media ({reason}). Check it against Threads' "
                                        "specifications (MP4 or MOV, H.264 or HEVC with AAC, 23-60 fps, at most 5 "
                                        "minutes and 1920 px wide).")

    def _found(self) -> PublishOutcome:
        """The container is PUBLISHED: find the post it became among the account's posts dated within the
        window of the publish requests (every page of it)."""
        item = self._post_of_container()
        media_id, permalink = (self.state["container_id"], None) if item is None \
            else (str(item["id"]), item.get("permalink"))
        self.ctx.remember(media_id=media_id, permalink=permalink)
        return PublishOutcome.published(media_id, url=permalink)

    def _post_of_container(self) -> dict[str, Any] | None:
        first = (parse_time(self.state.get("publish_requested_at"))
                 or parse_time(self.state.get("container_created_at")) or self.ctx.now())
        last = parse_time(self.state.get("publish_last_requested_at")) or first
        since, until = first - MATCH_SLACK, max(first, last) + REQUEST_SPAN
        params: dict[str, Any] = {"fields": "id,text,timestamp,permalink", "since": int(since.timestamp()),
                                  "until": int(until.timestamp()) + 1, "limit": PAGE_SIZE}
        matches: dict[str, dict[str, Any]] = {}
        try:
            for _ in range(MAX_PAGES):
                answer = self.client.get(f"{self.user}/threads", **params)
                for item in answer.get("data") or []:
                    if same_text(item.get("text"), self.ctx.post.caption):
                        matches[str(item["id"])] = item
                after = ((answer.get("paging") or {}).get("cursors") or {}).get("after")
                if not answer.get("data") or not after:  # an empty page ends it: "next" is not always given
                    return next(iter(matches.values())) if len(matches) == 1 else None
                params["after"] = after
        except ThreadsError:  # the post is live either way: the container id stands in
            return None
        return None

    def _permalink(self, media_id: str) -> str | None:
        try:
            return self.client.get(media_id, fields="permalink").get("permalink")
        except ThreadsError:
            return None
