"""A Redis storage for the limits library that answers a request's rate limit in one round trip.

flask-limiter asks Redis twice per request: once to take an entry from the sliding window
(``acquire_sliding_window_entry``), then again for the window's counts to fill the
``X-RateLimit-*`` headers (``get_sliding_window``). The second answer is already known inside the
first script, so this storage's script returns it along with the decision, and keeps it on
``flask.g`` for the rest of the request. Lookups outside a request, or for a key not taken in
this request, still go to Redis.

Selected with a ``herald+redis://`` (or ``herald+rediss://``) storage URI, see :func:`storage_uri`.
"""

from __future__ import annotations

from flask import g, has_request_context
from limits.storage import RedisStorage

SCHEME_PREFIX = "herald+"

# limits' acquire_sliding_window.lua, returning the window as it stands after the decision.
ACQUIRE_AND_REPORT = """
local limit = tonumber(ARGV[1])
local expiry = tonumber(ARGV[2]) * 1000
local amount = tonumber(ARGV[3])

local current_ttl = tonumber(redis.call('pttl', KEYS[2]))
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
local acquired = 0
if amount <= limit and (weighted_count + amount) <= limit then
    acquired = 1
    if redis.call('exists', KEYS[2]) == 1 then
        current_count = redis.call('incrby', KEYS[2], amount)
    else
        redis.call('set', KEYS[2], amount, 'PX', expiry * 2)
        current_count = amount
        current_ttl = expiry * 2
    end
end
return {acquired, previous_count, previous_ttl, current_count, current_ttl}
"""


def storage_uri(redis_url: str) -> str:
    """The limits storage URI selecting :class:`OneTripRedisStorage` for ``redis_url``."""
    return SCHEME_PREFIX + redis_url


class OneTripRedisStorage(RedisStorage):
    """:class:`limits.storage.RedisStorage` whose sliding-window hit also reports the window."""

    STORAGE_SCHEME = ["herald+redis", "herald+rediss"]

    def __init__(self, uri: str, **options) -> None:
        super().__init__(uri.removeprefix(SCHEME_PREFIX), **options)

    def initialize_storage(self, uri: str) -> None:
        """Register limits' scripts and Herald's acquire-and-report script."""
        super().initialize_storage(uri)
        self.lua_acquire_and_report = self.get_connection().register_script(ACQUIRE_AND_REPORT)

    def acquire_sliding_window_entry(self, key: str, limit: int, expiry: int, amount: int = 1) -> bool:
        """Take ``amount`` entries if the window allows it; remember the window for this request."""
        previous_key = self.prefixed_key(self._previous_window_key(key))
        current_key = self.prefixed_key(self._current_window_key(key))
        acquired, previous_count, previous_ttl, current_count, current_ttl = self.lua_acquire_and_report(
            [previous_key, current_key], [limit, expiry, amount])
        if has_request_context():
            windows = g.setdefault("_rate_limit_windows", {})
            windows[(key, expiry)] = (int(previous_count), float(previous_ttl) / 1000,
                                      int(current_count), float(current_ttl) / 1000)
        return bool(acquired)

    def get_sliding_window(self, key: str, expiry: int) -> tuple[int, float, int, float]:
        """The window of ``key``: the one this request's hit reported, or else Redis's."""
        if has_request_context():
            window = g.get("_rate_limit_windows", {}).pop((key, expiry), None)
            if window is not None:
                return window
        return super().get_sliding_window(key, expiry)
