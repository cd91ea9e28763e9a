"""The Instagram content-publishing flow for one task, as a resumable state machine.

Steps, each saved in the task state before the next one is taken:

1. create the container(s) (``POST /{ig}/media``): ``children`` for a carousel's items, then
   ``container_id`` (with ``container_created_at``);
2. read the container's ``status_code``: ``IN_PROGRESS`` answers ``pending`` (nothing blocks
   a worker), ``FINISHED`` goes on, ``ERROR`` fails with Meta's reason (or makes a new container
   when Meta says that helps), ``EXPIRED`` makes a new container, ``PUBLISHED`` means an earlier
   attempt already published it;
3. save ``publish_requested_at`` (the first request) and ``publish_last_requested_at``, then
   ``POST /{ig}/media_publish``; save ``media_id``. When
   Instagram refuses it for the publishing quota (9/2207042), ``content_publishing_limit`` says
   when a slot frees up. (The quota is read only then, not before every publish: one Graph call
   fewer per post, and Graph rate limits count calls.)

A container can be published once only, so retrying with the saved container can never make a
second post: that is why every call starts from the saved state, and why a crash is settled by the
container's own status, read before anything else is sent. Meta does not say which media a
``PUBLISHED`` container became, so its id is found by reading the account's media back within the
window the recorded request times bound, page by page (not among the newest N), matched on the
caption; when that cannot single one out, the container id stands in for the media id.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from typing import Any

from herald.sdk import PublishingQuota, PublishOutcome, TaskContext
from herald_graph import lookup
from herald_graph.graph import TIMEOUT, GraphClient, GraphError, graph_time, parse_time, same_text
from herald_graph.graph_errors import NOT_READY, QUOTA, RECREATE, SUBCODE_HINTS, TRANSIENT, classify
from herald_instagram import containers

POLL_IMAGE = 10.0  # seconds between status reads of an image container
POLL_VIDEO = 30.0  # videos transcode for a while
CONFIRM_AFTER = 5.0  # after a lost media_publish answer, read the container again this soon
MAX_PROCESSING = dt.timedelta(minutes=30)
MAX_ATTEMPTS = 3  # fresh sets of containers tried for one task before giving up
MATCH_SLACK = dt.timedelta(minutes=2)  # clock difference allowed between Herald and Meta
# How long after a publish request its media can appear: the request's own timeout, then the slack.
REQUEST_SPAN = dt.timedelta(seconds=TIMEOUT) + MATCH_SLACK
QUOTA_PROBES = (1, 3, 6, 12)  # hours: "will a slot be free by then?" asked in this order
FORGET = {"container_id": None, "container_created_at": None, "publish_requested_at": None,
          "publish_last_requested_at": None, "children": [],
          "children_created_at": None}


def read_quota(client: GraphClient, ig_id: str) -> PublishingQuota | None:
    """The account's use of the API publishing quota (``content_publishing_limit``), or None when
    the answer has no limit in it. Raises :class:`GraphError` when Meta refuses or cannot answer."""
    answer = client.get(f"{ig_id}/content_publishing_limit", fields="quota_usage,config")
    item = (answer.get("data") or [{}])[0]
    config = item.get("config") or {}
    if config.get("quota_total") is None:
        return None
    return PublishingQuota(used=int(item.get("quota_usage") or 0), limit=int(config["quota_total"]),
                           window_seconds=float(config.get("quota_duration") or 86400))


class Publisher:
    """Moves one task through the container flow, from whatever ``ctx.state`` holds."""

    def __init__(self, ctx: TaskContext, client: GraphClient):
        self.ctx = ctx
        self.client = client
        self.ig = ctx.account.external_id
        self.plan = containers.plan(ctx.post)
        self.poll = POLL_VIDEO if self.plan.has_video else POLL_IMAGE

    @property
    def state(self) -> dict[str, Any]:
        return self.ctx.state

    @property
    def publish_requested(self) -> bool:
        """Whether the current container was sent to ``media_publish`` and its media is not known:
        until its status is read again, the post may be live."""
        return bool(self.state.get("publish_requested_at")) and not self.state.get("media_id")

    def settle_error(self, err: GraphError) -> PublishOutcome:
        """The outcome of a Graph error that ended a step; ``maybe_live`` when a publish request of the
        current container may have gone through (its status could not be read), so that the task ends
        ``unconfirmed`` rather than ``failed`` if it never can be."""
        outcome = err.outcome()
        return dataclasses.replace(outcome, maybe_live=True) if self.publish_requested else outcome

    # -- the flow -----------------------------------------------------------------------------

    def run(self) -> PublishOutcome:
        """Take the next step(s) until the post is published or Instagram makes us wait."""
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
            return None
        info = self._status(container_id)
        code = info.get("status_code")
        if code == "PUBLISHED":
            return self._found()
        if code == "FINISHED":
            return PublishOutcome.pending(CONFIRM_AFTER, container_id=container_id)
        if code == "IN_PROGRESS":
            return PublishOutcome.pending(self.poll, container_id=container_id)
        if code == "ERROR" and self._error_kind(info) not in (RECREATE, TRANSIENT):
            return self._failed(info)
        self.ctx.save_state(**FORGET)  # EXPIRED, or an ERROR a new container may fix
        return None

    def _create(self) -> PublishOutcome | None:
        params = self.plan.single
        if self.plan.children:
            waiting = self._create_children()
            if waiting:
                return waiting
            params = dict(self.plan.parent, children=",".join(self.state["children"]))
        answer = self.client.post(f"{self.ig}/media", **params)
        self.ctx.save_state(container_id=str(answer["id"]), container_created_at=graph_time(self.ctx.now()),
                            publish_requested_at=None)
        return None

    def _create_children(self) -> PublishOutcome | None:
        """Create the carousel's item containers (reusing saved ones) and wait until all are ready."""
        children = list(self.state.get("children") or [])
        if not children:
            self.ctx.save_state(children_created_at=graph_time(self.ctx.now()))
        for params in self.plan.children[len(children):]:
            children.append(str(self.client.post(f"{self.ig}/media", **params)["id"]))
            self.ctx.save_state(children=children)
        for child in children:
            info = self._status(child)
            code = info.get("status_code")
            if code == "IN_PROGRESS":
                return self._too_slow("children_created_at") or PublishOutcome.pending(self.poll, children=children)
            if code == "ERROR":
                return self._failed(info)
            if code == "EXPIRED":
                self.ctx.save_state(children=[])
                return self._create_children()
        return None

    def _advance(self) -> PublishOutcome:
        container_id = self.state["container_id"]
        info = self._status(container_id)
        code = info.get("status_code")
        if code == "PUBLISHED":
            return self._found()
        if code == "FINISHED":
            return self._publish(container_id)
        if code == "IN_PROGRESS":
            return self._too_slow("container_created_at") or PublishOutcome.pending(self.poll,
                                                                                    container_id=container_id)
        if code == "ERROR":
            return self._failed(info)
        if code == "EXPIRED":  # not published within 24 hours: start again with a new container
            return self._start_over("The media container expired before it was published.")
        return PublishOutcome.transient(f"Instagram answered an unexpected container status {code!r}; Herald "
                                        "will check again.", self.poll, maybe_live=self.publish_requested)

    def _publish(self, container_id: str) -> PublishOutcome:
        now = graph_time(self.ctx.now())  # the first and the latest request bound the search for the media
        self.ctx.save_state(publish_requested_at=self.state.get("publish_requested_at") or now,
                            publish_last_requested_at=now)
        try:
            answer = self.client.post(f"{self.ig}/media_publish", creation_id=container_id)
        except GraphError as err:
            if err.uncertain:  # it may have been published: the container's status will say
                return PublishOutcome.pending(CONFIRM_AFTER, container_id=container_id)
            if err.kind == NOT_READY:
                return PublishOutcome.pending(self.poll, container_id=container_id)
            if err.kind == RECREATE:
                if self._status(container_id).get("status_code") == "PUBLISHED":
                    return self._found()
                return self._start_over(err.reason)
            if err.kind == QUOTA:
                waiting = self._quota_outcome()
                if waiting:
                    return waiting
            return err.outcome()  # Meta answered no: this request published nothing
        media_id = str(answer["id"])
        self.ctx.save_state(media_id=media_id)
        permalink = self._permalink(media_id)
        self.ctx.remember(permalink=permalink)  # committed with the outcome
        return PublishOutcome.published(media_id, url=permalink)

    def _quota_outcome(self) -> PublishOutcome | None:
        """After a quota refusal: ``transient`` until the moving window frees a slot, or None when
        ``content_publishing_limit`` cannot say (the refusal's own wait then applies)."""
        try:
            quota = read_quota(self.client, self.ig)
        except GraphError:
            return None
        if quota is None or quota.used < quota.limit:
            return None
        wait = self._quota_wait(quota.limit, quota.window_seconds)
        return PublishOutcome.transient(
            f"The account has published {quota.used} of the {quota.limit} posts Instagram allows through the API "
            f"in {quota.window_seconds / 3600:g} hours. Herald will try again in about {wait / 3600:g} hours, "
            "when a slot frees up.", wait)

    def _quota_wait(self, total: int, duration: float) -> float:
        """Seconds until the moving window frees a slot, at most ``duration``.

        Posts published before ``since`` have left the window ``wait`` seconds from now, so when
        fewer than ``total`` were published after ``now - duration + wait``, a slot is free by then.
        """
        now = self.ctx.now().timestamp()
        for hours in QUOTA_PROBES:
            wait = hours * 3600.0
            if wait >= duration:
                break
            try:
                answer = self.client.get(f"{self.ig}/content_publishing_limit", fields="quota_usage",
                                         since=int(now - duration + wait))
                usage = (answer.get("data") or [{}])[0].get("quota_usage")
            except GraphError:
                break
            if isinstance(usage, int) and usage < total:
                return wait
        return duration

    # -- helpers ------------------------------------------------------------------------------

    def _start_over(self, why: str) -> PublishOutcome:
        """Forget the containers and make new ones, at most ``MAX_ATTEMPTS`` times per task."""
        attempts = int(self.state.get("container_attempts") or 1) + 1
        if attempts > MAX_ATTEMPTS:
            return PublishOutcome.permanent(f"{why} Instagram could not take the media in {MAX_ATTEMPTS} attempts: "
                                            "check its format and size (JPEG images; MP4 or MOV videos).")
        self.ctx.save_state(**FORGET, container_attempts=attempts)
        return self.run()

    def _too_slow(self, started_key: str) -> PublishOutcome | None:
        """``permanent`` when containers have been processing for longer than ``MAX_PROCESSING``."""
        started = parse_time(self.state.get(started_key))
        if started is None or self.ctx.now() - started <= MAX_PROCESSING:
            return None
        minutes = int(MAX_PROCESSING.total_seconds() // 60)
        return PublishOutcome.permanent(
            f"Instagram was still processing the media {minutes} minutes after it was uploaded. Check the "
            "video's format and length (MP4 or MOV, 3 seconds to 15 minutes), then publish again.")

    def _status(self, container_id: str) -> dict[str, Any]:
        return self.client.get(container_id, fields="status_code,status")

    def _error_kind(self, info: dict[str, Any]) -> str:
        match = re.search(r"\b(\d{7})\b", info.get("status") or "")
        return classify(None, int(match.group(1)) if match else None)

    def _failed(self, info: dict[str, Any]) -> PublishOutcome:
        """A container in ERROR: start again when Meta says a new container helps, else fail."""
        text = (info.get("status") or "Error: Media upload failed").strip()
        kind = self._error_kind(info)
        if kind in (RECREATE, TRANSIENT):
            return self._start_over(f"Instagram could not process the media ({text}).")
        match = re.search(r"\b(\d{7})\b", text)
        hint = SUBCODE_HINTS.get(int(match.group(1)) if match else 0,
                                 "Check the media's format and size (JPEG images; MP4 or MOV videos).")
        return PublishOutcome.permanent(f"Instagram could not process the media ({text}). {hint}")

    def _found(self) -> PublishOutcome:
        """The container is PUBLISHED: find the media it became among the account's media created
        while it was being published (read page by page, however many came after it)."""
        item = self._media_of_container()
        if item is None:  # Meta does not link a container to its media: the container id stands in
            media_id, permalink = self.state["container_id"], None
        else:
            media_id, permalink = str(item["id"]), item.get("permalink")
        self.ctx.remember(media_id=media_id, permalink=permalink)  # committed with the outcome
        return PublishOutcome.published(media_id, url=permalink)

    def _media_of_container(self) -> dict[str, Any] | None:
        """The one media with the post's caption created within the window of the publish requests,
        or None when there is none or more than one (or the window cannot be read to its end)."""
        first = (parse_time(self.state.get("publish_requested_at"))
                 or parse_time(self.state.get("container_created_at")) or self.ctx.now())
        last = parse_time(self.state.get("publish_last_requested_at")) or first
        edge = "stories" if self.plan.is_story else "media"
        matches = {}
        try:
            for item in lookup.read_window(self.client, f"{self.ig}/{edge}", fields="id,caption,timestamp,permalink",
                                           since=first - MATCH_SLACK, until=max(first, last) + REQUEST_SPAN,
                                           time_field="timestamp"):
                if self.plan.is_story or same_text(item.get("caption"), self.ctx.post.caption):
                    matches[str(item["id"])] = item
        except (lookup.Undecided, GraphError):  # the post is live either way: the container id stands in
            return None
        return next(iter(matches.values())) if len(matches) == 1 else None

    def _permalink(self, media_id: str) -> str | None:
        try:
            return self.client.get(media_id, fields="permalink").get("permalink")
        except GraphError:
            return None
