"""First comments: text each account posts as a comment under its own post once the post is
published (links, hashtags, a call to action), asked for with ``first_comment`` on ``POST /v1/publish``.

A first comment is a work row of its own (:class:`herald.db.models.FirstComment`, kind ``first_comment``
of :mod:`herald.work`), made when its task is published. Its ``status``::

    pending ──claim──▶ posting ──▶ posted
       ▲                  ├──▶ failed        (the platform refused, or out of attempts)
       └──(retry)─────────┤                  (the platform said so: back off, then try again)
       └──(look first)────┤                  (sent but the answer was lost, or the worker died)
                          └──▶ unconfirmed   (it may be there and nobody can tell)

A comment is posted at most once. The kernel claims it (one conditional UPDATE, under a lease).
Before sending a comment again, Herald reads the post's comments through the platform's
``find_comment`` and settles it as ``posted`` when the account's comment is already there: Meta
sometimes takes a comment and answers an error (code 1 or 2), or the answer is lost on the way. A
worker that died holding a comment (its lease ran out) is handled the same way, in the kernel's mode
``recover``. A platform without ``find_comment``, or one that cannot be read, leaves such a comment
``unconfirmed`` and never sends it again, since a duplicate in public is worse than a missing comment
the user is told about. The comment never changes the task's own ``published`` status;
``publish.comment_completed`` and ``publish.comment_failed`` tell webhooks how it went.
"""

from __future__ import annotations

import logging

from .. import events, work
from ..capabilities import provided
from ..db.models import Account, FirstComment, PublishTask
from ..errors import ValidationError
from ..platforms import PlatformRejected, PlatformUnavailable
from ..runtime import Runtime
from ..work import Outcome, RetryPolicy, Statuses, WorkKind
from ..work.queue import PUBLISH_QUEUE
from . import accounts, tasks

log = logging.getLogger("herald.publishing.first_comments")

KIND_NAME = "first_comment"
PENDING = "pending"
POSTING = "posting"
POSTED = "posted"
FAILED = "failed"
UNCONFIRMED = "unconfirmed"
# The API shows a comment waiting for its next attempt, or for a look, as pending.
STATUSES = Statuses(queued=PENDING, retrying=PENDING, waiting=PENDING, running=POSTING, done=POSTED,
                    failed=FAILED, unconfirmed=UNCONFIRMED)

MAX_ATTEMPTS = 4
RETRY = RetryPolicy(max_attempts=MAX_ATTEMPTS)
# A lease longer than this ran out on a worker that died (a comment is one short request).
LEASE_SECONDS = 600.0
JOB_TIMEOUT_SECONDS = 120
UNCONFIRMED_HINT = ("It may have been posted: check the post on {platform} and add the comment by hand if it "
                    "is missing. Herald does not send it again, so it is never posted twice.")
# How long after a comment whose answer was lost Herald looks for it: long enough for a comment Meta
# took to show when its comments are read back.
CHECK_DELAY_SECONDS = 30.0
# How soon after finding that a worker died holding a comment Herald looks for it.
RECOVER_DELAY_SECONDS = 1.0


def check_request(runtime: Runtime, platforms: list[str], post_type: str, text: str | None) -> None:
    """400 naming ``first_comment`` when one of ``platforms`` cannot take a comment on this post type."""
    if not text:
        return
    for name in platforms:
        platform = runtime.registry.platforms[name].obj
        if provided(platform, "post_comment") is None:
            raise ValidationError(f"{name} cannot post a first comment.", field="first_comment")
        if post_type not in (getattr(platform, "comment_post_types", None) or platform.post_types):
            raise ValidationError(f"A {post_type} on {name} cannot take comments; leave out first_comment.",
                                  field="first_comment")


def enqueue(runtime: Runtime, task: PublishTask) -> bool:
    """Enqueue the job of ``task``'s pending first comment, once the task's publication committed;
    False when it has none, or Redis is down or the job exists (the reconciler enqueues it later)."""
    comment = tasks.first_comment(task.id)
    return comment is not None and comment.status == PENDING and work.enqueue(runtime, KIND, comment)


def post(runtime: Runtime, comment: FirstComment, mode: str) -> Outcome:
    """The kind's handler: post the comment, after looking for it when an earlier attempt may have
    left it there (``state["check_first"]``)."""
    task = PublishTask.get_by_id(comment.task_id)
    registered = runtime.registry.platforms.get(task.platform)
    poster = provided(registered.obj, "post_comment") if registered else None
    if not comment.text or poster is None:
        return Outcome.failed(f"The {task.platform} plugin cannot post comments (any more).")
    account = Account.get_by_id(task.account_id)
    token, problem = accounts.usable(runtime, account)
    if problem:
        return Outcome.failed(problem)
    ref = accounts.account_ref(runtime, account, token)
    finder = provided(registered.obj, "find_comment")
    if finder is not None and comment.state.get("check_first"):
        found = _look_for(runtime, task, comment, finder, ref)
        if found is not None:
            return found
    try:
        comment_id = poster(ref, task.platform_post_id, comment.text, config=runtime.config)
    except PlatformRejected as exc:
        return Outcome.failed(exc.message)
    except PlatformUnavailable as exc:
        if exc.uncertain:
            if finder is None or _out_of_attempts(comment):
                return Outcome.unconfirmed(f"{exc.message} {_hint(task)}")
            return _look_later(comment, f"{exc.message} Herald looks for the comment on {task.platform} before "
                                        "sending it again.", CHECK_DELAY_SECONDS)
        # Meta may have taken it despite the error (codes 1 and 2 promise nothing): look before resending.
        comment.state = {**comment.state, "check_first": finder is not None}
        return Outcome.retry(exc.message, exc.retry_after)
    except Exception as exc:  # a plugin bug: whether the comment went out is unknown, so never resend it
        log.exception("platform %s raised while commenting for task %s", task.platform, task.id)
        return Outcome.unconfirmed(f"The {task.platform} plugin failed unexpectedly: {exc}. {_hint(task)}")
    return Outcome.done(comment_id=str(comment_id), error=None)


def recover(runtime: Runtime, comment: FirstComment, mode: str) -> Outcome:
    """The kind's handler in mode ``recover``: the worker posting the comment died before it recorded
    the answer, so the comment is looked for before it is sent again, or left ``unconfirmed`` when
    the platform cannot tell."""
    task = PublishTask.get_by_id(comment.task_id)
    stopped = "The worker posting the comment stopped before it recorded the answer."
    registered = runtime.registry.platforms.get(task.platform)
    if registered is None or provided(registered.obj, "find_comment") is None or _out_of_attempts(comment):
        return Outcome.unconfirmed(f"{stopped} {_hint(task)}")
    return _look_later(comment, f"{stopped} Herald looks for the comment on {task.platform} before sending it "
                                "again.", RECOVER_DELAY_SECONDS)


def _look_for(runtime: Runtime, task: PublishTask, comment: FirstComment, finder, ref) -> Outcome | None:
    """Settle a comment an earlier attempt may have posted: ``posted`` when the platform shows it,
    ``unconfirmed`` when it cannot be read, a later look when the platform is unavailable. None
    when it is certainly not there, so it may be sent."""
    hint = _hint(task)
    try:
        comment_id = finder(ref, task.platform_post_id, comment.text, config=runtime.config)
    except PlatformRejected as exc:
        return Outcome.unconfirmed(f"Herald could not check whether the comment is already on {task.platform}: "
                                   f"{exc.message} {hint}")
    except PlatformUnavailable as exc:  # out of attempts, the kernel leaves it unconfirmed (_final_error)
        return Outcome.retry(exc.message, exc.retry_after, unsure=True)
    except Exception as exc:
        log.exception("platform %s raised while looking for the comment of task %s", task.platform, task.id)
        return Outcome.unconfirmed(f"The {task.platform} plugin failed unexpectedly: {exc}. {hint}")
    if comment_id is not None:
        return Outcome.done(comment_id=str(comment_id), error=None)
    return None


def _look_later(comment: FirstComment, error: str, seconds: float) -> Outcome:
    """The comment may have been handed over: look for it in ``seconds`` before anything is sent again."""
    comment.state = {**comment.state, "check_first": True}
    return Outcome.wait(seconds, error=error)


def _out_of_attempts(comment: FirstComment) -> bool:
    """Whether the kind's retry policy leaves the comment no attempt after this one."""
    return RETRY.exhausted(comment.attempts)


def _final_error(comment: FirstComment, error: str, unsure: bool) -> str:
    """The error of a comment the retry policy gives up on: an unconfirmed one says what to check."""
    return f"{error} {_hint(PublishTask.get_by_id(comment.task_id))}" if unsure else error


def _hint(task: PublishTask) -> str:
    return UNCONFIRMED_HINT.format(platform=task.platform)


def _settle(runtime: Runtime, comment: FirstComment, outcome: Outcome, locked: None) -> None:
    """Emit how a comment ended (inside the transaction recording it; dispatched after the commit)."""
    if comment.status not in STATUSES.final:
        return
    task = PublishTask.get_by_id(comment.task_id)
    kind = "publish.comment_completed" if comment.status == POSTED else "publish.comment_failed"
    events.record(comment.workspace_id, kind, {"task": tasks.serialize_task(task), "post_id": f"post_{task.post_id}"})
    if comment.status != POSTED:
        log.warning("first comment of task %s %s: %s", task.id, comment.status, comment.error)


KIND = WorkKind(name=KIND_NAME, model=FirstComment, run=post, recover=recover, queue=PUBLISH_QUEUE,
                         job_timeout=JOB_TIMEOUT_SECONDS, lease_seconds=LEASE_SECONDS, retry=RETRY,
                         statuses=STATUSES, counted=frozenset({"run"}), error_field="error", settle=_settle,
                         final_error=_final_error)
