"""The leasing rate-limit storage: few Redis round trips, never more hits than the limit across
processes, unused entries given back, exact near the limit, headers that count what was handed out."""

from __future__ import annotations

import types

import pytest
from limits.storage import RedisStorage

from conftest import TEST_REDIS_URL
from herald import ratelimit_storage
from herald.ratelimit_storage import LEASE_SECONDS, MAX_LEASE, LeasingRedisStorage, storage_uri

EXPIRY = 60  # seconds: a per-minute limit


class Clock:
    """The storage's monotonic clock, moved by the test (Redis's TTLs keep real time)."""

    def __init__(self):
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch):
    fake = Clock()
    monkeypatch.setattr(ratelimit_storage, "time", types.SimpleNamespace(monotonic=fake.monotonic))
    return fake


@pytest.fixture
def storages(redis_client, clock):
    """Two storages on the test Redis, standing for two processes of one deployment."""
    made = [LeasingRedisStorage(storage_uri(TEST_REDIS_URL)) for _ in range(2)]
    yield made
    for storage in made:
        storage.get_connection().close()


class TripCounter:
    """Counts the Redis round trips a storage's leasing script makes."""

    def __init__(self, storage: LeasingRedisStorage):
        self.trips = 0
        script = storage.lua_lease

        def counted(*args, **kwargs):
            self.trips += 1
            return script(*args, **kwargs)

        storage.lua_lease = counted


def counted_in_redis(key: str) -> tuple[int, int]:
    """(previous, current) window counts Redis holds for ``key``."""
    previous, _, current, _ = RedisStorage(TEST_REDIS_URL).get_sliding_window(key, EXPIRY)
    return previous, current


def test_a_busy_key_asks_redis_once_per_lease(storages, app):
    storage = storages[0]
    trips = TripCounter(storage)
    with app.test_request_context():
        assert all(storage.acquire_sliding_window_entry("busy", 100_000, EXPIRY) for _ in range(1000))
        window = storage.get_sliding_window("busy", EXPIRY)
    # 1, 2, 4, ... up to MAX_LEASE entries per trip.
    assert trips.trips <= 7 + 1000 // MAX_LEASE + 1
    # The headers count what was handed out, not what the lease holds in reserve.
    assert window[2] == 1000
    lease = storage._leases[("busy", EXPIRY)]
    assert counted_in_redis("busy")[1] == 1000 + lease.granted - lease.used


def test_processes_sharing_a_key_never_exceed_the_limit(storages):
    limit = 100
    successes = 0
    refused = [False, False]
    while not all(refused):
        for index, storage in enumerate(storages):
            if storage.acquire_sliding_window_entry("shared", limit, EXPIRY):
                successes += 1
            else:
                refused[index] = True
    # No time passed, so every entry either process leased was handed out: exactly the limit.
    assert successes == limit
    assert counted_in_redis("shared") == (0, limit)


def test_a_single_process_is_exact_near_the_limit(storages):
    storage = storages[0]
    trips = TripCounter(storage)
    results = [storage.acquire_sliding_window_entry("exact", 50, EXPIRY) for _ in range(51)]
    assert results == [True] * 50 + [False]
    # Under SHARE * 2 entries left, each hit asked Redis again (no lease could go unused).
    assert trips.trips > 16


def test_small_limits_never_lease(storages):
    first, second = storages
    assert first.acquire_sliding_window_entry("small", 5, EXPIRY)
    assert first.acquire_sliding_window_entry("small", 5, EXPIRY)
    assert counted_in_redis("small") == (0, 2)  # nothing held back from the other process
    assert [second.acquire_sliding_window_entry("small", 5, EXPIRY) for _ in range(4)] == [True, True, True, False]


def test_unused_entries_go_back_to_redis_when_the_lease_expires(storages, clock):
    storage = storages[0]
    for _ in range(100):
        assert storage.acquire_sliding_window_entry("idle", 100_000, EXPIRY)
    held = counted_in_redis("idle")[1]
    assert held > 100  # the last lease still holds entries nobody used
    clock.now += LEASE_SECONDS
    assert storage.acquire_sliding_window_entry("idle", 100_000, EXPIRY)
    # The expired lease's leftovers were given back: Redis counts the 101 entries handed out, plus
    # only what the new lease holds.
    lease = storage._leases[("idle", EXPIRY)]
    assert counted_in_redis("idle")[1] == 101 + lease.granted - lease.used


def test_entries_a_process_holds_reach_the_others_once_its_lease_expires(storages, clock):
    first, second = storages
    limit = 40

    def hammer(storage) -> int:
        taken = 0
        while storage.acquire_sliding_window_entry("handover", limit, EXPIRY):
            taken += 1
        return taken

    taken = sum(first.acquire_sliding_window_entry("handover", limit, EXPIRY) for _ in range(4))
    held_back = first._leases[("handover", EXPIRY)].unused(clock.now)
    assert held_back > 0
    taken += hammer(second)
    assert taken == limit - held_back  # stricter than the limit while the first process holds entries
    clock.now += LEASE_SECONDS
    taken += first.acquire_sliding_window_entry("handover", limit, EXPIRY)  # gives the rest back
    taken += hammer(second)
    assert taken == limit
    assert counted_in_redis("handover") == (0, limit)


def test_a_lease_is_refused_past_its_life(storages, clock):
    storage = storages[0]
    trips = TripCounter(storage)
    for _ in range(10):
        storage.acquire_sliding_window_entry("life", 100_000, EXPIRY)
    before = trips.trips
    clock.now += LEASE_SECONDS + 0.01
    storage.acquire_sliding_window_entry("life", 100_000, EXPIRY)
    assert trips.trips == before + 1


def test_a_lease_ends_with_its_window(storages, redis_client, clock):
    storage = storages[0]
    storage.acquire_sliding_window_entry("edge", 100_000, EXPIRY)
    # Age the Redis window to 0.5 s before its end, then lease again.
    current_key = storage.prefixed_key(storage._current_window_key("edge"))
    redis_client.pexpire(current_key, EXPIRY * 1000 + 500)
    storage.acquire_sliding_window_entry("edge", 100_000, EXPIRY)
    lease = storage._leases[("edge", EXPIRY)]
    assert lease.expires_at <= clock.now + 0.5 + 0.01
    assert lease.unused(clock.now + 0.5) == 0  # too late to give back: the next window has begun


def test_a_refused_hit_takes_nothing_and_reports_the_window(storages, app):
    storage = storages[0]
    with app.test_request_context():
        for _ in range(3):
            assert storage.acquire_sliding_window_entry("full", 3, EXPIRY)
        assert not storage.acquire_sliding_window_entry("full", 3, EXPIRY)
        assert storage.get_sliding_window("full", EXPIRY)[2] == 3
    assert counted_in_redis("full") == (0, 3)


def test_reset_drops_the_leases(storages):
    storage = storages[0]
    for _ in range(20):
        storage.acquire_sliding_window_entry("reset", 100_000, EXPIRY)
    assert storage._leases
    storage.reset()
    assert not storage._leases
    assert counted_in_redis("reset") == (0, 0)
