"""The ``webhook_delivery`` work kind: one attempt of a delivery per job, on the ``webhooks`` queue.

Deliveries run on :mod:`herald.work`: the kernel claims the delivery row (under a lease), calls
:func:`run`, records its :class:`~herald.work.Outcome` (retries on :data:`herald_webhooks.deliveries.RETRY`,
the Svix schedule, never by sleeping), schedules the next job (``herald-webhook_delivery-<id>-<step>``)
and reconciles rows whose job Redis lost or whose worker died. :func:`herald_webhooks.deliveries.settle`
logs each attempt in the same transaction.

An endpoint holds at most :func:`in_flight_limit` workers at a time; further deliveries to it wait
(deferred, see :func:`defer_for`) rather than occupying workers that other endpoints need.
An endpoint *earns* parallel attempts by answering promptly (a slow start): one that has not
answered within :data:`STUCK_AFTER` in the last :data:`ANSWER_TTL` seconds (new, idle for long,
slow, or whose last attempt got no answer), that is failing, or that has an attempt in flight for
longer than :data:`STUCK_AFTER` right now, gets one attempt at a time. So a receiver that never
answers holds one worker from its very first delivery, not every worker until its first timeout
completes. Deliveries waiting for it are spread out (:func:`defer_for`), and new ones are scheduled
as the event fans out (:func:`hold_for`) rather than run only to find the slot taken.

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
import logging
import random
import time

import redis

from herald.sdk import Runtime, http, work

from . import deliveries, endpoints, signing
from .models import CANCELLED, FAILED, KIND_NAME, PENDING, SUCCEEDED, WebhookDelivery, WebhookEndpoint

log = logging.getLogger("herald.webhooks")

QUEUE = "webhooks"  # its own queue: a delivery stuck on a slow receiver never holds up a publish
TIMEOUT_SECONDS = 15.0
USER_AGENT = "Herald-Webhooks/0.2 (+https://www.standardwebhooks.com/)"
HEALTHY_IN_FLIGHT = 4  # concurrent attempts to one endpoint that is answering promptly
FAILING_IN_FLIGHT = 1  # ... and to any other (a dead endpoint never takes more than one worker)
JOB_TIMEOUT = 60  # seconds RQ lets one attempt run (the HTTP timeout is far shorter)
LEASE_SECONDS = JOB_TIMEOUT + 30  # a delivery held longer than this lost its worker: the reconciler recovers it
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
CONNECTIONS = http.ConnectionPool(idle_seconds=KEEP_ALIVE_SECONDS)

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


def _slot(runtime: Runtime, endpoint: WebhookEndpoint, delivery_id: int | None, step: int | None,
          take: bool) -> _Slot:
    base = FAILING_IN_FLIGHT if endpoint.failing_since else HEALTHY_IN_FLIGHT
    script = _take_slot_script(runtime.redis)
    taken, limit, oldest, last, waiting = script(
        keys=[_slot_key(endpoint.id), _answer_key(endpoint.id), _waiting_key(endpoint.id)],
        args=[repr(runtime.clock.timestamp()), f"{delivery_id}:{step}", base, FAILING_IN_FLIGHT, STUCK_AFTER,
              STALE_AFTER, 1 if take else 0, str(delivery_id), WAIT_GRACE])
    return _Slot(bool(taken), int(limit), float(oldest) if oldest else None, last.decode() if last else None,
                 int(waiting))


def in_flight_limit(runtime: Runtime, endpoint: WebhookEndpoint) -> int:
    """How many attempts to ``endpoint`` may run at once right now.

    :data:`HEALTHY_IN_FLIGHT` when it is not failing, answered within :data:`STUCK_AFTER` in the
    last :data:`ANSWER_TTL` seconds, and has no attempt in flight for longer than that; otherwise
    :data:`FAILING_IN_FLIGHT`.
    """
    return _slot(runtime, endpoint, None, None, take=False).limit


def _take_slot(runtime: Runtime, endpoint: WebhookEndpoint, delivery_id: int, step: int) -> float | None:
    """Take one of the endpoint's slots for the delivery's ``step``; None when taken, else seconds to
    defer it by (it is then counted among those waiting until that time)."""
    try:
        slot = _slot(runtime, endpoint, delivery_id, step, take=True)
    except redis.RedisError:
        return None  # without Redis there is no worker either; do not block on bookkeeping
    if slot.taken:
        return None
    return _wait(runtime, endpoint.id, delivery_id, slot)


def _wait(runtime: Runtime, endpoint_id: int, delivery_id: int, slot: _Slot) -> float:
    connection, now = runtime.redis, runtime.clock.timestamp()
    delay = defer_for(now - slot.oldest if slot.oldest is not None else 0.0, slot.last_answer, slot.waiting)
    with contextlib.suppress(redis.RedisError):
        connection.pipeline().zadd(_waiting_key(endpoint_id), {str(delivery_id): now + delay}).expire(
            _waiting_key(endpoint_id), WAIT_TTL).execute()
    return delay


def _not_answering(age: float, last_answer: str | None) -> bool:
    """Whether the attempt in flight will most likely run until its timeout: the endpoint's last
    attempt got no answer, or it never answered and this attempt is stuck already."""
    return last_answer == NO_ANSWER or (last_answer is None and age > STUCK_AFTER)


def hold_for(runtime: Runtime, endpoint: WebhookEndpoint, delivery: WebhookDelivery) -> float | None:
    """Seconds to hold a new delivery's first attempt back when ``endpoint`` is not answering and
    its one slot is taken (see :func:`defer_for`; the delivery is then counted among those
    waiting); None otherwise.

    Its job would only find the slot taken and defer itself: at one job per event, that is most
    of the work a dead endpoint makes, done by workers every other endpoint needs.
    """
    try:
        slot = _slot(runtime, endpoint, delivery.id, delivery.step, take=False)
    except redis.RedisError:
        return None
    if slot.taken or slot.oldest is None or not _not_answering(runtime.clock.timestamp() - slot.oldest,
                                                               slot.last_answer):
        return None
    return _wait(runtime, endpoint.id, delivery.id, slot)


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
    # One round trip without MULTI/EXEC: a slot look between the two writes sees the slot freed and
    # the previous answer (or the reverse), as it would a moment earlier or later. Every attempt runs it.
    pipeline = connection.pipeline(transaction=False)
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
        target = http.check_url(endpoint.url, allow_private=runtime.config.webhook_allow_private)
    except http.BlockedURL as exc:
        return deliveries.AttemptResult(None, 0, error=f"refused by the SSRF guard: {exc.reason}")
    headers = signing.headers(endpoints.signing_secrets(runtime, endpoint), delivery.message_id, delivery.payload)
    headers.update({"Content-Type": "application/json", "User-Agent": USER_AGENT})
    started = time.monotonic()
    try:
        # Idempotent: receivers tell a repeat by its webhook-id, so a request cut off on a kept
        # connection the receiver had closed goes once more on a new one.
        response = http.post(target, delivery.payload.encode(), headers, timeout=TIMEOUT_SECONDS,
                             read_limit=deliveries.RESPONSE_EXCERPT, pool=CONNECTIONS, idempotent=True)
    except (http.SendFailed, http.AnswerLost) as exc:
        if isinstance(exc.reason, TimeoutError):
            return deliveries.AttemptResult(None, _ms_since(started), error=f"timed out after {TIMEOUT_SECONDS:g} s")
        reason = str(exc.reason) or type(exc.reason).__name__
        return deliveries.AttemptResult(None, _ms_since(started), error=f"connection failed: {reason}")
    return deliveries.AttemptResult(response.status, response.duration_ms,
                                    response.body.decode("utf-8", "replace"),
                                    retry_after=work.parse_retry_after(response.headers.get("retry-after"),
                                                                       runtime.clock.now()))


def _ms_since(started: float) -> int:
    """Milliseconds since ``started`` (``time.monotonic()``): how long an attempt took."""
    return int((time.monotonic() - started) * 1000)


def run(runtime: Runtime, delivery: WebhookDelivery, mode: str) -> work.Outcome:
    """The kind's handler: one attempt of ``delivery`` (claimed by the kernel), unless its endpoint
    was disabled (cancelled) or is busy (deferred, the attempt given back).

    Every mode makes the attempt: a worker that died mid-attempt may or may not have delivered, and
    Standard Webhooks receivers tell a repeat by its ``webhook-id`` (the same on every attempt).
    """
    endpoint = endpoints.by_id(delivery.endpoint_id)
    if endpoint is None or not endpoint.active:
        reason = endpoint.disabled_reason if endpoint is not None else None
        reason = reason or "The webhook was disabled."
        return work.Outcome.cancelled(reason, last_error=reason, attempts=delivery.attempts - 1)
    defer = _take_slot(runtime, endpoint, delivery.id, delivery.step)
    if defer is not None:
        return work.Outcome.defer(defer)
    result = None
    try:
        result = attempt(runtime, delivery, endpoint)
    finally:
        _release_slot(runtime.redis, endpoint.id, f"{delivery.id}:{delivery.step}", result)
    return deliveries.judge(runtime, delivery, endpoint, result)


# The API shows one status, pending, for a delivery waiting for its attempt and one being attempted
# (a worker's lease tells them apart); an attempt nobody can confirm counts as failed.
KIND = work.WorkKind(
    name=KIND_NAME, model=WebhookDelivery, run=run, queue=QUEUE, job_timeout=JOB_TIMEOUT,
    lease_seconds=LEASE_SECONDS, retry=deliveries.RETRY, settle=deliveries.settle,
    statuses=work.Statuses(queued=PENDING, running=PENDING, retrying=PENDING, waiting=PENDING, done=SUCCEEDED,
                           failed=FAILED, unconfirmed=FAILED, cancelled=CANCELLED))


def enqueue(runtime: Runtime, delivery: WebhookDelivery) -> bool:
    """Enqueue the job of the delivery's current step, at its ``due_at`` (after its row committed)."""
    return work.enqueue(runtime, KIND, delivery)


def fan_out(runtime: Runtime, event) -> None:
    """Create ``event``'s deliveries and enqueue their first attempts (the ``http`` sink's ``deliver``).

    A delivery to an endpoint that is not answering and busy with an attempt is due later
    (:func:`hold_for`), and its job scheduled for then.
    """
    now = runtime.clock.now()
    for delivery, endpoint in deliveries.fan_out(event, now):
        delay = hold_for(runtime, endpoint, delivery)
        if delay is not None:
            deliveries.postpone(delivery, now + dt.timedelta(seconds=delay))
        enqueue(runtime, delivery)
