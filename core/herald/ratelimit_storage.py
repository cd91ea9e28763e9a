"""A Redis storage for the limits library that leases rate-limit entries to the process in batches.

flask-limiter asks its storage for one sliding-window entry per request; with limits' own
``RedisStorage`` that is a Redis round trip per request (two, counting the one for the
``X-RateLimit-*`` headers), the largest single cost of a small API request. This storage takes
entries from Redis in *leases*: a batch of entries counted in Redis at once, handed out to the
process's following requests for the same key without asking Redis again.

What keeps the limits honest:

- every entry is counted in Redis before any request uses it, so all processes together never let
  through more than the limit allows (a lease can only make the limit stricter, never looser);
- a lease never outlives the Redis window it was counted in, nor :data:`LEASE_SECONDS`; what a lease
  did not use is given back to Redis with the key's next round trip, while the window is the same;
- a lease holds at most 1/:data:`SHARE` of what the window has left, so near the limit every request
  asks Redis again and the limit is exact; under :data:`SHARE` × 2 entries left no lease is taken;
- the batch follows demand: one entry for a key's first request, twice the last lease when a lease ran
  out before it expired, what the last lease actually used when it expired (at most :data:`MAX_LEASE`).

A single process therefore counts exactly; several processes sharing a key may refuse a request while
another process still holds unused entries of the same key (at most 1/:data:`SHARE` of what was left
each), and only until those leases expire. The ``X-RateLimit-*`` headers come from the window Redis
reported with the lease, less what the lease has not handed out yet.

Selected with a ``herald+redis://`` (or ``herald+rediss://``) storage URI, see :func:`storage_uri`.
"""

from __future__ import annotations

import dataclasses
import threading
import time

from flask import g, has_request_context
from limits.storage import RedisStorage

SCHEME_PREFIX = "herald+"
LEASE_SECONDS = 1.0  # a lease's longest life: bounds how long unused entries stay away from other processes
MAX_LEASE = 64  # entries one round trip may take for one process
SHARE = 8  # a lease takes at most this fraction (1/SHARE) of what the window has left
WINDOW_MARGIN = 0.05  # seconds: give back unused entries only this long before their window ends

# limits' acquire_sliding_window.lua, taking up to ARGV[4] entries (at least ARGV[3]) and first giving
# back ARGV[5] unused entries of an earlier lease; returns what it granted and the window after it.
LEASE_SCRIPT = """
local limit = tonumber(ARGV[1])
local expiry = tonumber(ARGV[2]) * 1000
local amount = tonumber(ARGV[3])
local wanted = tonumber(ARGV[4])
local unused = tonumber(ARGV[5])
local share = tonumber(ARGV[6])

local current_ttl = tonumber(redis.call('pttl', KEYS[2]))
if unused > 0 and current_ttl >= expiry then
    local counted = tonumber(redis.call('get', KEYS[2])) or 0
    if counted > 0 then
        redis.call('decrby', KEYS[2], math.min(unused, counted))
    end
end
if current_ttl > 0 and current_ttl < expiry then
    -- The current window expired: it becomes the previous one
    redis.call('rename', KEYS[2], KEYS[1])
    redis.call('set', KEYS[2], 0, 'PX', current_ttl + expiry)
end

local previous_count = tonumber(redis.call('get', KEYS[1])) or 0
local previous_ttl = math.max(tonumber(redis.call('pttl', KEYS[1])) or 0, 0)
local current_count = tonumber(redis.call('get', KEYS[2])) or 0
current_ttl = math.max(tonumber(redis.call('pttl', KEYS[2])) or 0, 0)

local weighted_count = math.floor(previous_count * previous_ttl / expiry) + current_count
local available = limit - weighted_count
local granted = 0
if amount <= limit and amount <= available then
    granted = math.max(amount, math.min(wanted, math.floor(available / share)))
    if redis.call('exists', KEYS[2]) == 1 then
        current_count = redis.call('incrby', KEYS[2], granted)
    else
        redis.call('set', KEYS[2], granted, 'PX', expiry * 2)
        current_count = granted
        current_ttl = expiry * 2
    end
end
return {granted, previous_count, previous_ttl, current_count, current_ttl}
"""


def storage_uri(redis_url: str) -> str:
    """The limits storage URI selecting :class:`LeasingRedisStorage` for ``redis_url``."""
    return SCHEME_PREFIX + redis_url


@dataclasses.dataclass
class Lease:
    """Entries of one key's window taken from Redis in one round trip, handed out by this process."""

    granted: int
    used: int
    taken_at: float  # time.monotonic()
    expires_at: float  # time.monotonic(); never after the window ends
    window_ends_at: float  # time.monotonic() when Redis starts the key's next window
    window: tuple[int, float, int, float]  # as Redis reported it, the whole lease counted

    def take(self, amount: int, now: float) -> bool:
        """Hand out ``amount`` entries if the lease is alive and has them."""
        if now >= self.expires_at or self.used + amount > self.granted:
            return False
        self.used += amount
        return True

    def unused(self, now: float) -> int:
        """Entries counted in Redis but not handed out, if they can still be given back to their window."""
        return self.granted - self.used if now < self.window_ends_at - WINDOW_MARGIN else 0

    def next_batch(self, now: float) -> int:
        """How many entries the next lease should ask for, from how fast this one went."""
        if now < self.expires_at:  # ran out while alive: demand outgrew it
            return min(MAX_LEASE, 2 * self.granted)
        return min(MAX_LEASE, self.used)

    def window_now(self, now: float) -> tuple[int, float, int, float]:
        """The window as Redis reported it, aged to ``now``, without the entries not handed out."""
        previous_count, previous_ttl, current_count, current_ttl = self.window
        elapsed = now - self.taken_at
        return (previous_count, max(0.0, previous_ttl - elapsed),
                current_count - (self.granted - self.used), max(0.0, current_ttl - elapsed))


class LeasingRedisStorage(RedisStorage):
    """:class:`limits.storage.RedisStorage` whose sliding-window hits are served from leases."""

    STORAGE_SCHEME = ["herald+redis", "herald+rediss"]

    def __init__(self, uri: str, **options) -> None:
        super().__init__(uri.removeprefix(SCHEME_PREFIX), **options)
        self._leases: dict[tuple[str, int], Lease] = {}
        self._lock = threading.Lock()  # threaded servers share one storage per process

    def initialize_storage(self, uri: str) -> None:
        """Register limits' scripts and Herald's leasing script."""
        super().initialize_storage(uri)
        self.lua_lease = self.get_connection().register_script(LEASE_SCRIPT)

    def acquire_sliding_window_entry(self, key: str, limit: int, expiry: int, amount: int = 1) -> bool:
        """Take ``amount`` entries from this process's lease on ``key``, or from Redis with a new lease."""
        with self._lock:
            now = time.monotonic()
            lease = self._leases.get((key, expiry))
            if lease is not None and lease.take(amount, now):
                self._remember(key, expiry, lease.window_now(now))
                return True
            wanted = amount + lease.next_batch(now) - 1 if lease is not None else amount
            unused = lease.unused(now) if lease is not None else 0
            self._leases.pop((key, expiry), None)
            granted, *window = self.lua_lease(
                [self.prefixed_key(self._previous_window_key(key)), self.prefixed_key(self._current_window_key(key))],
                [limit, expiry, amount, max(wanted, amount), unused, SHARE])
            now = time.monotonic()
            window = (int(window[0]), float(window[1]) / 1000, int(window[2]), float(window[3]) / 1000)
            if not granted:
                self._remember(key, expiry, window)
                return False
            if len(self._leases) > 10_000:
                self._forget_expired(now)
            window_ends_at = now + window[3] - expiry
            lease = Lease(granted=int(granted), used=amount, taken_at=now, window=window,
                          expires_at=min(now + LEASE_SECONDS, window_ends_at), window_ends_at=window_ends_at)
            self._leases[(key, expiry)] = lease
            self._remember(key, expiry, lease.window_now(now))
            return True

    def get_sliding_window(self, key: str, expiry: int) -> tuple[int, float, int, float]:
        """The window of ``key`` as this request's hit saw it, or else as Redis holds it."""
        if has_request_context():
            window = g.get("_rate_limit_windows", {}).pop((key, expiry), None)
            if window is not None:
                return window
        return super().get_sliding_window(key, expiry)

    def clear(self, key: str) -> None:
        """Clear ``key`` in Redis and drop this process's leases (on any key: they are cheap to retake)."""
        with self._lock:
            self._leases.clear()
        super().clear(key)

    def reset(self) -> int | None:
        """Clear every limit in Redis and drop this process's leases."""
        with self._lock:
            self._leases.clear()
        return super().reset()

    def _remember(self, key: str, expiry: int, window: tuple[int, float, int, float]) -> None:
        # The headers (get_sliding_window) read the window this hit saw, without another round trip.
        if has_request_context():
            g.setdefault("_rate_limit_windows", {})[(key, expiry)] = window

    def _forget_expired(self, now: float) -> None:
        for lease_key in [lease_key for lease_key, lease in self._leases.items() if now >= lease.expires_at]:
            del self._leases[lease_key]
