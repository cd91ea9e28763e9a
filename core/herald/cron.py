"""Periodic jobs on RQ's cron scheduler: the task reconciler, token health checks, the engagement pull and
the check and repair of the derived data.

RQ's ``CronJob`` enqueues with the default (pickle) serializer; Herald's workers only accept JSON,
so the cron jobs here enqueue through Herald's JSON queues. Running several cron processes is
harmless: every periodic job is idempotent.
"""

from __future__ import annotations

from rq.cron import CronJob, CronScheduler

from . import chores
from .work.queue import DEFAULT_QUEUE, get_queue


class JSONCronJob(CronJob):
    """A cron job enqueued with Herald's JSON serializer."""

    def enqueue(self, connection):
        """Enqueue the job on its JSON queue."""
        return get_queue(connection, self.queue_name).enqueue(self.func, args=self.args, kwargs=self.kwargs,
                                                              **self.job_options)


class HeraldCron(CronScheduler):
    """RQ's cron scheduler with Herald's periodic jobs registered."""

    def register(self, func, queue_name, args=None, kwargs=None, interval=None, cron=None, job_timeout=None,
                 result_ttl=600, ttl=None, failure_ttl=None, meta=None, webhooks=None, name=""):
        """Register ``func`` to run every ``interval`` seconds (or on a ``cron`` expression)."""
        cron_job = JSONCronJob(queue_name=queue_name, func=func, args=args, kwargs=kwargs, interval=interval,
                               cron=cron, job_timeout=job_timeout, result_ttl=result_ttl, ttl=ttl,
                               failure_ttl=failure_ttl, meta=meta, webhooks=webhooks, name=name)
        self._cron_jobs.append(cron_job)
        return cron_job


# Herald's periodic jobs: the chore, the Config field with its interval in seconds, its job timeout.
PERIODIC = (
    (chores.reconcile, "reconcile_interval_seconds", 300),
    (chores.check_tokens, "token_check_interval_seconds", 600),
    (chores.pull_engagement, "engagement_pull_interval_seconds", 1800),
    (chores.repair_derived, "derived_check_interval_seconds", 3600),
    (chores.refresh_intelligence, "intelligence_refresh_interval_seconds", 600),
)


def make_cron(connection, config) -> HeraldCron:
    """A cron scheduler with the periodic jobs (:data:`PERIODIC`): the reconciler, the token health
    check and the engagement pull."""
    scheduler = HeraldCron(connection=connection, name="")
    for chore, interval, job_timeout in PERIODIC:
        scheduler.register(chore, DEFAULT_QUEUE, interval=getattr(config, interval), job_timeout=job_timeout)
    return scheduler
