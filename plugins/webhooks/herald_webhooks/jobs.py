"""RQ jobs of the webhooks plugin: one job per delivery attempt on the ``webhooks`` queue.

Job ids are ``herald-webhook-<delivery id>-<step>``; the delivery row is the source of truth, so
:func:`reconcile` re-creates any job Redis lost.

An endpoint holds at most :func:`in_flight_limit` workers at a time; further deliveries to it wait
(a scheduled job, see :func:`defer_for`) rather than occupying workers that other endpoints need.
An endpoint *earns* parallel attempts by answering promptly (a slow start): one that has not
answered within :data:`STUCK_AFTER` in the last :data:`ANSWER_TTL` seconds (new, idle for long,
slow, or whose last attempt got no answer), that is failing, or that has an attempt in flight for
longer than :data:`STUCK_AFTER` right now, gets one attempt at a time. So a receiver that never
answers holds one worker from its very first delivery, not every worker until its first timeout
completes. Deliveries waiting for it are spread out (:func:`defer_for`), and new ones are scheduled
as the event fans out (:func:`schedule_if_held`) rather than run only to find the slot taken.

Attempts in flight are kept in a Redis sorted set per endpoint (member ``<delivery id>:<step>``,
score: start time), changed atomically by a Lua script; entries older than :data:`STALE_AFTER`
(a crashed work-horse's: RQ ends every live attempt after :data:`JOB_TIMEOUT`) are pruned by the
next look at the set, a re-run of the same job replaces its own entry, and the set expires when the
endpoint goes quiet. How long the endpoint last took to answer is kept beside it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import functools
import http.client
import logging
import random
import time

import redis
from rq.exceptions import DuplicateJobError

from herald import netguard, queue
from herald.models import db, utcnow
from herald.runtime import Runtime, for_jobs

from . import deliveries, endpoints, signing
from .models import PENDING, WebhookDelivery, WebhookEndpoint

log = logging.getLogger("herald.webhooks")

TIMEOUT_SECONDS = 15.0
USER_AGENT = "Herald-Webhooks/0.2 (+https://www.standardwebhooks.com/)"
HEALTHY_IN_FLIGHT = 4  # concurrent attempts to one endpoint that is answering promptly
FAILING_IN_FLIGHT = 1  # ... and to any other (a dead endpoint never takes more than one worker)
JOB_TIMEOUT = 60  # seconds RQ lets one attempt run (the HTTP timeout is far shorter)
STUCK_AFTER = 2.0  # seconds: an attempt in flight longer than this means the endpoint is not answering
ANSWER_TTL = 600  # seconds a prompt answer keeps earning an endpoint parallel attempts
STALE_AFTER = JOB_TIMEOUT + 15  # seconds: no live attempt is older (RQ kills the work-horse); a crashed one's entry
NO_ANSWER = "none"  # the last-answer key's value when the endpoint's last attempt got no answer
DEFER_JITTER = (1.0, 3.0)  # seconds added to every deferral, spreading the deferred jobs out
WAKES_PER_ATTEMPT = 4  # deliveries waiting on a slow or dead endpoint wake about this often per attempt ...
MAX_SPREAD = 600  # ... spread over at most this many seconds however many wait
WAIT_GRACE = 60  # seconds after its wake time a waiting delivery stops counting (woken, or its job lost)
WAIT_TTL = MAX_SPREAD + 2 * int(TIMEOUT_SECONDS) + WAIT_GRACE
KEEP_ALIVE_SECONDS = 4.0  # an idle connection to a receiver is reused this long (servers commonly keep 5 s or more)
# Keep-alive connections of this process's attempts, each to the address checked when it was opened.
CONNECTIONS = netguard.ConnectionPool(idle_seconds=KEEP_ALIVE_SECONDS)

# Atomically: prune stale entries, work out the endpoint's limit, and take a slot when one is free.
# KEYS: the in-flight sorted set, the last-answer key, the waiting sorted set (delivery id -> wake
# time). ARGV: now, member, base limit, limit when not answering, STUCK_AFTER, STALE_AFTER, take (1)
# or only report (0), delivery id, WAIT_GRACE.
# Returns {taken (when only reporting: a slot is free) (0/1), limit, start of the oldest attempt in
# flight or false, the last-answer value or false, how many other deliveries wait}.
_TAKE_SLOT = """
local now = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[6]))
redis.call('ZREM', KEYS[1], ARGV[2])  -- a re-run of this very job: the earlier run is over
local limit = tonumber(ARGV[3])
local answered = tonumber(redis.call('GET', KEYS[2]))
if answered == nil or answered > tonumber(ARGV[5]) then
  limit = math.min(limit, tonumber(ARGV[4]))
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')[2]
if oldest and now - tonumber(oldest) > tonumber(ARGV[5]) then
  limit = math.min(limit, tonumber(ARGV[4]))
end
local last = redis.call('GET', KEYS[2])
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now - tonumber(ARGV[9]))
local free = redis.call('ZCARD', KEYS[1]) < limit
if ARGV[7] ~= '1' or not free then
  local waiting = redis.call('ZCARD', KEYS[3])
  if redis.call('ZSCORE', KEYS[3], ARGV[8]) then waiting = waiting - 1 end
  return {free and 1 or 0, limit, oldest or false, last, waiting}
end
redis.call('ZADD', KEYS[1], now, ARGV[2])
redis.call('EXPIRE', KEYS[1], math.ceil(tonumber(ARGV[6])))
redis.call('ZREM', KEYS[3], ARGV[8])
return {1, limit, oldest or false, last, 0}
"""


def job_id(delivery_id: int, step: int) -> str:
    """The unique RQ job id of a delivery's ``step``."""
    return f"herald-webhook-{delivery_id}-{step}"


def enqueue(connection: redis.Redis, delivery_id: int, step: int, at: dt.datetime | None = None) -> bool:
    """Enqueue :func:`deliver` for the delivery's ``step`` (at ``at``, naive UTC, when in the future).

    False when the job exists already or Redis is unreachable (the reconciler enqueues it later).
    """
    q = queue.get_queue(connection, queue.WEBHOOKS_QUEUE)
    options = dict(job_id=job_id(delivery_id, step), unique=True, job_timeout=JOB_TIMEOUT,
                   retry=queue.CRASH_RETRY, result_ttl=300, failure_ttl=7 * 86400,
                   description=f"webhook delivery {delivery_id} (step {step})")
    try:
        if at is not None and at > utcnow():
            q.enqueue_at(at.replace(tzinfo=dt.UTC), "herald_webhooks.jobs.deliver", delivery_id, step, **options)
        else:
            q.enqueue("herald_webhooks.jobs.deliver", delivery_id, step, **options)
    except DuplicateJobError:
        return False
    except redis.RedisError as exc:
        log.warning("could not enqueue webhook delivery %s (the reconciler will): %s", delivery_id, exc)
        return False
    return True


def _requeue(connection: redis.Redis, delivery: WebhookDelivery, at: dt.datetime | None) -> bool:
    """Enqueue the delivery under a new step (the running or lost job holds the current one's id)."""
    step = deliveries.bump_step(delivery.id)
    return step is not None and enqueue(connection, delivery.id, step, at)


def _now() -> float:
    return time.time()


def _slot_key(endpoint_id: int) -> str:
    return f"herald:webhooks:in-flight:{endpoint_id}"


def _answer_key(endpoint_id: int) -> str:
    return f"herald:webhooks:last-answer:{endpoint_id}"


def _waiting_key(endpoint_id: int) -> str:
    return f"herald:webhooks:waiting:{endpoint_id}"


@functools.lru_cache(maxsize=8)
def _take_slot_script(connection: redis.Redis):
    """The slot script registered once per connection (redis-py then runs it by its SHA)."""
    return connection.register_script(_TAKE_SLOT)


@dataclasses.dataclass(frozen=True)
class _Slot:
    taken: bool  # (when only looking: whether one is free)
    limit: int
    oldest: float | None  # when the oldest attempt in flight started
    last_answer: str | None  # seconds the endpoint took to answer last time, NO_ANSWER, or None
    waiting: int  # other deliveries deferred until a slot frees


def _slot(connection: redis.Redis, endpoint: WebhookEndpoint, delivery_id: int | None, step: int | None,
          take: bool) -> _Slot:
    base = FAILING_IN_FLIGHT if endpoint.failing_since else HEALTHY_IN_FLIGHT
    script = _take_slot_script(connection)
    taken, limit, oldest, last, waiting = script(
        keys=[_slot_key(endpoint.id), _answer_key(endpoint.id), _waiting_key(endpoint.id)],
        args=[repr(_now()), f"{delivery_id}:{step}", base, FAILING_IN_FLIGHT, STUCK_AFTER, STALE_AFTER,
              1 if take else 0, str(delivery_id), WAIT_GRACE])
    return _Slot(bool(taken), int(limit), float(oldest) if oldest else None, last.decode() if last else None,
                 int(waiting))


def in_flight_limit(connection: redis.Redis, endpoint: WebhookEndpoint) -> int:
    """How many attempts to ``endpoint`` may run at once right now.

    :data:`HEALTHY_IN_FLIGHT` when it is not failing, answered within :data:`STUCK_AFTER` in the
    last :data:`ANSWER_TTL` seconds, and has no attempt in flight for longer than that; otherwise
    :data:`FAILING_IN_FLIGHT`.
    """
    return _slot(connection, endpoint, None, None, take=False).limit


def _take_slot(connection: redis.Redis, endpoint: WebhookEndpoint, delivery_id: int, step: int) -> float | None:
    """Take one of the endpoint's slots for the delivery's ``step``; None when taken, else seconds to
    defer it by (it is then counted among those waiting until that time)."""
    try:
        slot = _slot(connection, endpoint, delivery_id, step, take=True)
    except redis.RedisError:
        return None  # without Redis there is no worker either; do not block on bookkeeping
    if slot.taken:
        return None
    return _wait(connection, endpoint.id, delivery_id, slot)


def _wait(connection: redis.Redis, endpoint_id: int, delivery_id: int, slot: _Slot) -> float:
    now = _now()
    delay = defer_for(now - slot.oldest if slot.oldest is not None else 0.0, slot.last_answer, slot.waiting)
    with contextlib.suppress(redis.RedisError):
        connection.pipeline().zadd(_waiting_key(endpoint_id), {str(delivery_id): now + delay}).expire(
            _waiting_key(endpoint_id), WAIT_TTL).execute()
    return delay


def _not_answering(age: float, last_answer: str | None) -> bool:
    """Whether the attempt in flight will most likely run until its timeout: the endpoint's last
    attempt got no answer, or it never answered and this attempt is stuck already."""
    return last_answer == NO_ANSWER or (last_answer is None and age > STUCK_AFTER)


def schedule_if_held(connection: redis.Redis, endpoint: WebhookEndpoint, delivery: WebhookDelivery) -> bool:
    """Schedule a new delivery's first job for later when ``endpoint`` is not answering and its one
    slot is taken (see :func:`defer_for`); False, doing nothing, otherwise.

    The job would only find the slot taken and defer itself: at one job per event, that is most
    of the work a dead endpoint makes, done by workers every other endpoint needs. The job id is
    the one :func:`enqueue` gives the delivery's current step, so enqueueing it again is a no-op.
    """
    try:
        slot = _slot(connection, endpoint, delivery.id, delivery.step, take=False)
    except redis.RedisError:
        return False
    if slot.taken or slot.oldest is None or not _not_answering(_now() - slot.oldest, slot.last_answer):
        return False
    delay = _wait(connection, endpoint.id, delivery.id, slot)
    return enqueue(connection, delivery.id, delivery.step, utcnow() + dt.timedelta(seconds=delay))


def defer_for(age: float, last_answer: str | None, waiting: int = 0) -> float:
    """Seconds a delivery that found no free slot waits, given how long the oldest attempt in
    flight has been running (``age``), the endpoint's last answer (seconds it took, or
    :data:`NO_ANSWER`, or None when unknown) and how many other deliveries wait for it.

    - It answered promptly, or never answered yet, and the attempt in flight is young: a moment
      (:data:`DEFER_JITTER`); that attempt may end any time.
    - It answered slowly and the attempt in flight is within that time: until it should be over.
    - It answered promptly but the attempt in flight is stuck (a stall, or it just died): as long
      again as that attempt has been in flight so far (doubling), at most until its timeout, so a
      stall of a few seconds costs a few seconds.
    - Its last attempt got no answer, or its first one is stuck: until the HTTP timeout ends the
      attempt in flight.

    In the last two cases the wake-ups are spread over one such attempt per
    :data:`WAKES_PER_ATTEMPT` deliveries waiting (at most :data:`MAX_SPREAD` seconds): a slow or
    dead endpoint takes one attempt at a time, so waking them sooner, all together the moment its
    slot frees, or every few seconds would only run jobs for nothing and delay every other
    endpoint's deliveries.
    """
    last = float(last_answer) if last_answer not in (None, NO_ANSWER) else None
    if last is not None and last > STUCK_AFTER and age <= last:  # slow, answering as usual
        expected = min(last, TIMEOUT_SECONDS)
    elif _not_answering(age, last_answer):
        expected = TIMEOUT_SECONDS
    elif age > STUCK_AFTER:
        return max(0.0, min(age, TIMEOUT_SECONDS - age)) + random.uniform(*DEFER_JITTER)
    else:
        return random.uniform(*DEFER_JITTER)
    spread = min(expected * max(1.0, waiting / WAKES_PER_ATTEMPT), MAX_SPREAD)
    return max(0.0, expected - age) + random.uniform(DEFER_JITTER[0], DEFER_JITTER[0] + spread)


def _release_slot(connection: redis.Redis, endpoint_id: int, member: str,
                  result: deliveries.AttemptResult | None) -> None:
    """Give the slot back and remember how long the endpoint took to answer (if it did)."""
    pipeline = connection.pipeline()
    pipeline.zrem(_slot_key(endpoint_id), member)
    if result is not None and result.status is not None:
        pipeline.set(_answer_key(endpoint_id), f"{result.duration_ms / 1000:.3f}", ex=ANSWER_TTL)
    elif result is not None:  # no answer: it earns parallel attempts afresh
        pipeline.set(_answer_key(endpoint_id), NO_ANSWER, ex=ANSWER_TTL)
    with contextlib.suppress(redis.RedisError):
        pipeline.execute()


def attempt(runtime: Runtime, delivery: WebhookDelivery, endpoint: WebhookEndpoint) -> deliveries.AttemptResult:
    """Check the URL (SSRF guard), sign the stored body and POST it once."""
    try:
        target = netguard.check_url(endpoint.url, allow_private=runtime.config.webhook_allow_private)
    except netguard.BlockedURL as exc:
        return deliveries.AttemptResult(None, 0, error=f"refused by the SSRF guard: {exc.reason}")
    headers = signing.headers(endpoints.signing_secrets(runtime, endpoint), delivery.message_id, delivery.payload)
    headers.update({"Content-Type": "application/json", "User-Agent": USER_AGENT})
    started = dt.datetime.now(dt.UTC)
    try:
        response = netguard.post(target, delivery.payload.encode(), headers, timeout=TIMEOUT_SECONDS,
                                 read_limit=deliveries.RESPONSE_EXCERPT, pool=CONNECTIONS)
    except TimeoutError:
        return deliveries.AttemptResult(None, _ms_since(started), error=f"timed out after {TIMEOUT_SECONDS:g} s")
    except (OSError, http.client.HTTPException) as exc:
        reason = str(exc) or type(exc).__name__
        return deliveries.AttemptResult(None, _ms_since(started), error=f"connection failed: {reason}")
    return deliveries.AttemptResult(response.status, response.duration_ms,
                                    response.body.decode("utf-8", "replace"),
                                    retry_after=deliveries.parse_retry_after(response.headers.get("retry-after")))


def _ms_since(started: dt.datetime) -> int:
    return int((dt.datetime.now(dt.UTC) - started).total_seconds() * 1000)


def deliver(delivery_id: int, step: int) -> str:
    """Make one attempt of delivery ``delivery_id`` (when ``step`` is still current); returns what happened."""
    runtime = for_jobs()
    with db.connection_context():
        loaded = deliveries.load(delivery_id)
        if loaded is None:
            return "nothing to do"
        delivery, endpoint = loaded
        if delivery.status != PENDING or delivery.step != step:
            return "nothing to do"
        if not endpoint.active:
            deliveries.cancel(delivery, endpoint.disabled_reason or "The webhook was disabled.")
            return "cancelled"
        if delivery.next_attempt_at and delivery.next_attempt_at > runtime.clock.now() + dt.timedelta(seconds=1):
            _requeue(runtime.redis, delivery, delivery.next_attempt_at)
            return "not due yet"
        defer = _take_slot(runtime.redis, endpoint, delivery.id, step)
        if defer is not None:
            _requeue(runtime.redis, delivery, runtime.clock.now() + dt.timedelta(seconds=defer))
            return f"endpoint busy: deferred {defer:.1f} s"
    result = None
    try:
        result = attempt(runtime, delivery, endpoint)
    finally:
        _release_slot(runtime.redis, endpoint.id, f"{delivery.id}:{step}", result)
    with db.connection_context():
        recorded = deliveries.record_attempt(runtime, delivery, step, result)
    if recorded.status == PENDING:
        enqueue(runtime.redis, delivery.id, recorded.step, recorded.next_attempt_at)
    return f"attempt {delivery.attempts + 1}: {recorded.status}"


def fan_out(runtime: Runtime, event) -> None:
    """Create ``event``'s deliveries and enqueue their first attempts (the ``http`` sink's ``deliver``).

    A delivery to an endpoint that is not answering and busy with an attempt is scheduled for later
    (:func:`schedule_if_held`), which makes enqueueing it now a no-op.
    """
    for delivery, endpoint in deliveries.fan_out(event):
        schedule_if_held(runtime.redis, endpoint, delivery)
        enqueue(runtime.redis, delivery.id, delivery.step)


def reconcile(runtime: Runtime, limit: int = 5000) -> int:
    """Re-enqueue every pending delivery whose job is gone (Redis lost it, a worker died); returns how many."""
    enqueued = 0
    with db.connection_context():
        rows = list(WebhookDelivery.select().where(WebhookDelivery.status == PENDING)
                    .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id).limit(limit))
        # A delivery job running past its timeout (plus a margin) lost its worker: deliver again.
        alive = queue.alive_jobs(runtime.redis, [job_id(delivery.id, delivery.step) for delivery in rows],
                                 running_limit=JOB_TIMEOUT + 30, now=runtime.clock.now())
        for delivery in rows:
            if job_id(delivery.id, delivery.step) in alive:
                continue
            if _requeue(runtime.redis, delivery, delivery.next_attempt_at):
                enqueued += 1
    if enqueued:
        log.info("re-enqueued %s webhook deliveries", enqueued)
    return enqueued
