"""A third-party-style platform plugin whose answers a test scripts: for tests of the core pipeline
(state machine, scheduling, idempotency, approvals) that do not depend on any one real platform.
The Instagram and Facebook plugins are tested against the fake Graph API server instead."""

from __future__ import annotations

import dataclasses
import itertools
import threading

from herald import PublishOutcome, hookimpl
from herald.platforms import ConnectedAccount, PlatformRejected, TokenHealth


@dataclasses.dataclass
class Call:
    """One call the core made: which method, for which task, with what saved state."""

    method: str
    task_id: str
    account: str
    caption: str
    state: dict


class ScriptedPlatform:
    """Platform ``scripted``: publishes in memory; ``script`` holds the outcomes to give, in order."""

    name = "scripted"
    post_types = ("post", "reel", "carousel", "story")

    def __init__(self):
        self.script: list[PublishOutcome] = []
        # What the next reconcile calls answer (an exception is raised), before it looks for the post.
        self.reconcile_script: list[PublishOutcome | Exception] = []
        self.calls: list[Call] = []
        self.posts: list[dict] = []  # what is "live" on the platform
        self.health = TokenHealth("active")
        self._ids = itertools.count(1000)
        self._lock = threading.Lock()

    def connect(self, token, *, config, details):
        """Tokens starting with ``bad`` are refused; the rest name account ``@user-<last 4>``."""
        if token.startswith("bad"):
            raise PlatformRejected("Invalid OAuth access token - Cannot parse access token")
        return ConnectedAccount(external_id=token[-4:], username=f"user-{token[-4:]}", token=token)

    def _next(self, method, ctx):
        with self._lock:
            self.calls.append(Call(method, ctx.task_id, ctx.account.id, ctx.post.caption, dict(ctx.state)))
            outcome = self.script.pop(0) if self.script else None
        if outcome is None or outcome.kind == "published":
            post_id = f"sp_{next(self._ids)}"
            self.posts.append({"id": post_id, "task": ctx.task_id, "caption": ctx.post.caption})
            return PublishOutcome.published(post_id, url=f"https://scripted.example/p/{post_id}")
        if outcome.kind == "pending":
            ctx.save_state(**outcome.state)
        return outcome

    def publish(self, ctx):
        """The next scripted outcome (published when the script is empty)."""
        return self._next("publish", ctx)

    def check(self, ctx):
        """The next scripted outcome, for a task that answered pending."""
        return self._next("check", ctx)

    def reconcile(self, ctx):
        """The next of ``reconcile_script``; else published when a post for this task is live, None
        (publish again) otherwise."""
        self.calls.append(Call("reconcile", ctx.task_id, ctx.account.id, ctx.post.caption, dict(ctx.state)))
        if self.reconcile_script:
            scripted = self.reconcile_script.pop(0)
            if isinstance(scripted, Exception):
                raise scripted
            return scripted
        for post in self.posts:
            if post["task"] == ctx.task_id:
                return PublishOutcome.published(post["id"])
        return None

    def token_health(self, account, *, config):
        """Whatever ``health`` says."""
        return self.health


class ScriptedPlugin:
    """The plugin object registering one :class:`ScriptedPlatform`."""

    def __init__(self):
        self.platform = ScriptedPlatform()

    @hookimpl
    def register_platforms(self, register):
        register(self.platform)
