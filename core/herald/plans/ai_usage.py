"""AI usage accounting: every provider call is a row in ``ai_generation``, and the plan's monthly
limit is checked and a slot reserved in one transaction, so concurrent requests cannot overshoot.

A call is ``reserved`` while it runs, then ``succeeded`` or ``failed``. Succeeded calls count
against the limit; so do reservations younger than :data:`RESERVATION_TTL` (calls still running),
which is what stops the 51st concurrent request of a Free workspace. A failed call costs nothing.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

from ..db.models import AIGeneration, Workspace, db, isoformat, write_transaction
from ..errors import HeraldError
from .limits import PLAN_LIMITS, month_start

RESERVED, SUCCEEDED, FAILED = "reserved", "succeeded", "failed"
# Longer than any provider call may take with its retries; an older reservation belonged to a
# process that died mid-call and no longer holds a slot.
RESERVATION_TTL = dt.timedelta(minutes=15)
PLAN_NAMES = {"free": "Free", "pro": "Pro"}


class PlanLimit(HeraldError):
    """402: this calendar month's AI generations are used up."""

    code = "plan_limit"


def monthly_limit(plan: str) -> int:
    """AI generations a workspace on ``plan`` may make per calendar month."""
    return PLAN_LIMITS[plan]["ai_generations_per_month"]


def next_month_start(now: dt.datetime) -> dt.datetime:
    """Midnight UTC on the first day of next month (when the count starts again)."""
    start = month_start(now)
    return (start + dt.timedelta(days=32)).replace(day=1)


def used_this_month(workspace_id: int, now: dt.datetime) -> int:
    """Generations counted against the limit of the month of ``now`` (the runtime's clock):
    succeeded ones and those still running."""
    counted = (AIGeneration.status == SUCCEEDED) | (
        (AIGeneration.status == RESERVED) & (AIGeneration.created_at >= now - RESERVATION_TTL))
    return (AIGeneration.select()
            .where((AIGeneration.workspace == workspace_id) & (AIGeneration.created_at >= month_start(now)) & counted)
            .count())


def limit_error(plan: str, limit: int, now: dt.datetime) -> PlanLimit:
    """The ``plan_limit`` error, saying when the count resets and what upgrading gives."""
    upgrade = "" if plan == "pro" else f" Upgrade to Pro for {monthly_limit('pro')} a month."
    return PlanLimit(f"This workspace has used all {limit} AI generations of its {PLAN_NAMES.get(plan, plan)} plan "
                     f"for {now:%B %Y}. The count starts again on {isoformat(next_month_start(now))}.{upgrade}")


def check_limit(workspace_id: int, now: dt.datetime) -> None:
    """Raise ``plan_limit`` when the month of ``now`` is used up (a check without reserving anything)."""
    plan = Workspace.select(Workspace.plan).where(Workspace.id == workspace_id).scalar()
    limit = monthly_limit(plan)
    if used_this_month(workspace_id, now) >= limit:
        raise limit_error(plan, limit, now)


def reserve(workspace_id: int, now: dt.datetime, *, feature: str, provider: str, model: str, client_id: int | None,
            job_id: str | None = None) -> int:
    """Count the generations of the month of ``now`` (the runtime's clock) and reserve the next one
    in one transaction; its row id.

    ``job_id`` is the background job making the call, if any (see :func:`release_job`).

    Raises ``plan_limit`` when the month is used up. On SQLite the write transaction holds the
    database's write lock; on PostgreSQL the workspace row is locked, so reservations of one
    workspace take turns and each sees the one before it.
    """
    with write_transaction():
        query = Workspace.select(Workspace.plan).where(Workspace.id == workspace_id)
        if getattr(db.obj, "for_update", False):
            query = query.for_update()
        plan = query.scalar()
        limit = monthly_limit(plan)
        if used_this_month(workspace_id, now) >= limit:
            raise limit_error(plan, limit, now)
        row = AIGeneration.create(workspace=workspace_id, client=client_id, feature=feature, provider=provider,
                                  model=model or "", status=RESERVED, created_at=now, job=job_id)
    return row.id


def finish(generation_id: int, *, model: str, input_tokens: int, output_tokens: int) -> None:
    """Mark a reserved generation succeeded, with its tokens."""
    (AIGeneration.update(status=SUCCEEDED, model=model or "", input_tokens=input_tokens, output_tokens=output_tokens)
     .where(AIGeneration.id == generation_id).execute())


def fail(generation_id: int, error: str, *, input_tokens: int = 0, output_tokens: int = 0) -> None:
    """Mark a reserved generation failed (it no longer counts against the limit)."""
    (AIGeneration.update(status=FAILED, error=error[:2000], input_tokens=input_tokens, output_tokens=output_tokens)
     .where(AIGeneration.id == generation_id).execute())


def release_job(job_id: str, error: str) -> int:
    """Fail the generations background job ``job_id`` still holds reserved (its worker died mid-call),
    so they stop counting against the plan; returns how many."""
    return (AIGeneration.update(status=FAILED, error=error[:2000])
            .where((AIGeneration.job == job_id) & (AIGeneration.status == RESERVED)).execute())


def _bucket() -> dict:
    return {"generations": 0, "failed": 0, "input_tokens": 0, "output_tokens": 0}


def _add(bucket: dict, row: AIGeneration) -> None:
    bucket["generations" if row.status == SUCCEEDED else "failed"] += 1
    bucket["input_tokens"] += row.input_tokens
    bucket["output_tokens"] += row.output_tokens


def usage_report(workspace_id: int, days: int, now: dt.datetime) -> dict:
    """Generations (succeeded and failed) and tokens of the last ``days`` days up to ``now`` (today
    included), by day, feature and provider. Calls still running are left out."""
    first_day = (now - dt.timedelta(days=days - 1)).date()
    start = dt.datetime.combine(first_day, dt.time())
    rows = (AIGeneration.select()
            .where((AIGeneration.workspace == workspace_id) & (AIGeneration.created_at >= start)
                   & (AIGeneration.status != RESERVED))
            .order_by(AIGeneration.created_at))
    totals = _bucket()
    by_day = {first_day + dt.timedelta(days=n): _bucket() for n in range(days)}
    by_feature: dict[str, dict] = defaultdict(_bucket)
    by_provider: dict[tuple[str, str], dict] = defaultdict(_bucket)
    for row in rows:
        for bucket in (totals, by_day.setdefault(row.created_at.date(), _bucket()), by_feature[row.feature],
                       by_provider[(row.provider, row.model)]):
            _add(bucket, row)
    return {
        "period": {"days": days, "start": isoformat(start), "end": isoformat(now)},
        "totals": totals,
        "by_day": [{"date": day.isoformat(), **bucket} for day, bucket in sorted(by_day.items())],
        "by_feature": [{"feature": name, **bucket} for name, bucket in sorted(by_feature.items())],
        "by_provider": [{"provider": provider, "model": model, **bucket}
                        for (provider, model), bucket in sorted(by_provider.items())],
    }
