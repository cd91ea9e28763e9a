"""Keep-alive connections of the SSRF guard (herald.net.http.ConnectionPool): reused only to an
address of the current check, only for a short idle time, and never when they cannot be."""

from __future__ import annotations

import dataclasses

import pytest

from fakes.receiver import Receiver, Reply
from herald.net import guard as netguard
from herald.net import http as outbound


def ports(receiver: Receiver) -> list[int]:
    return [request.client_port for request in receiver.received()]


def test_consecutive_requests_share_one_connection():
    pool = outbound.ConnectionPool()
    with Receiver() as receiver:
        for _ in range(4):
            target = netguard.check_url(receiver.url(), allow_private=True)  # checked for every request
            assert outbound.post(target, b"{}", {}, timeout=5, pool=pool).status == 200
        assert len(set(ports(receiver))) == 1 and len(ports(receiver)) == 4
        assert pool.idle_count() == 1
        for _ in range(2):
            outbound.post(target, b"{}", {}, timeout=5)  # without a pool: a connection per request
        assert len(set(ports(receiver)[4:])) == 2 and ports(receiver)[0] not in ports(receiver)[4:]
    pool.clear()


def test_an_idle_connection_is_not_reused_after_idle_seconds():
    now = [100.0]
    pool = outbound.ConnectionPool(idle_seconds=4, clock=lambda: now[0])
    with Receiver() as receiver:
        target = netguard.check_url(receiver.url(), allow_private=True)
        outbound.post(target, b"{}", {}, timeout=5, pool=pool)
        now[0] += 3.9
        outbound.post(target, b"{}", {}, timeout=5, pool=pool)
        now[0] += 4.1
        outbound.post(target, b"{}", {}, timeout=5, pool=pool)
        first, second, third = ports(receiver)
        assert first == second and third != first
    pool.clear()


def test_a_connection_is_reused_only_to_an_address_of_the_current_check():
    """The same host and port, now resolving elsewhere: the kept connection (to the address checked
    before) is not used; the request goes to the new answer (nothing listens there: refused)."""
    pool = outbound.ConnectionPool()
    with Receiver() as receiver:
        url = f"http://hooks.example.test:{receiver.port}/in"
        before = netguard.check_url(url, allow_private=True, resolver=lambda host, port: ["127.0.0.1"])
        outbound.post(before, b"{}", {}, timeout=5, pool=pool)
        after = netguard.check_url(url, allow_private=True, resolver=lambda host, port: ["127.0.0.2"])
        with pytest.raises(outbound.SendFailed) as refused:
            outbound.post(after, b"{}", {}, timeout=5, pool=pool)
        assert isinstance(refused.value.reason, ConnectionRefusedError)
        assert len(receiver.received()) == 1 and pool.idle_count() == 1
        with pytest.raises(netguard.BlockedURL):  # and a refused address is refused before any pool is asked
            netguard.check_url(url, allow_private=True, resolver=lambda host, port: ["169.254.169.254"])
    pool.clear()


def test_a_connection_the_receiver_closed_is_replaced():
    pool = outbound.ConnectionPool()
    with Receiver() as receiver:
        target = netguard.check_url(receiver.url(), allow_private=True)
        outbound.post(target, b"{}", {}, timeout=5, pool=pool)
        receiver.go_down()
        receiver.come_up()  # the same port; the kept connection was closed by the receiver
        assert outbound.post(target, b"{}", {}, timeout=5, pool=pool).status == 200
        assert len(ports(receiver)) == 2 and ports(receiver)[0] != ports(receiver)[1]
    pool.clear()


def test_a_request_on_a_connection_closed_in_the_meantime_is_sent_once_more_on_a_new_one(monkeypatch):
    """The receiver closes an idle connection just after the pool looked at it (the race the look
    cannot rule out): the request goes out again on a new connection and arrives once."""
    pool = outbound.ConnectionPool()
    with Receiver() as receiver:
        target = netguard.check_url(receiver.url(), allow_private=True)
        outbound.post(target, b"{}", {}, timeout=5, pool=pool)
        receiver.go_down()
        receiver.come_up()
        monkeypatch.setattr(outbound, "still_open", lambda conn: True)  # the look came just too early
        assert outbound.post(target, b'{"n":2}', {}, timeout=5, pool=pool, idempotent=True).status == 200
        assert [request.body for request in receiver.received()] == [b"{}", b'{"n":2}']
    pool.clear()


def test_an_answer_not_read_to_its_end_does_not_keep_the_connection():
    pool = outbound.ConnectionPool()
    with Receiver(Reply(body=b"x" * 5000)) as receiver:
        target = netguard.check_url(receiver.url(), allow_private=True)
        response = outbound.post(target, b"{}", {}, timeout=5, read_limit=100, pool=pool)
        assert response.body == b"x" * 100 and pool.idle_count() == 0
        outbound.post(target, b"{}", {}, timeout=5, read_limit=100, pool=pool)
        assert len(set(ports(receiver))) == 2


def test_a_receiver_asking_to_close_does_not_keep_the_connection():
    pool = outbound.ConnectionPool()
    with Receiver(Reply(headers={"Connection": "close"})) as receiver:
        target = netguard.check_url(receiver.url(), allow_private=True)
        assert outbound.post(target, b"{}", {}, timeout=5, pool=pool).status == 200
        assert pool.idle_count() == 0


def test_the_pool_keeps_at_most_per_key_and_max_idle_connections():
    pool = outbound.ConnectionPool(per_key=1, max_idle=2)
    with Receiver() as one, Receiver() as two, Receiver() as three:
        targets = [netguard.check_url(r.url(), allow_private=True) for r in (one, two, three)]
        for target in targets:
            conn = outbound._connection(target, "127.0.0.1", 5, None)
            conn.connect()
            pool.give(target, "127.0.0.1", conn)
        assert pool.idle_count() == 2
        assert pool.take(targets[0], "127.0.0.1") is None  # the oldest went first
        assert pool.take(targets[2], "127.0.0.1") is not None
    pool.clear()


def test_an_address_that_cannot_be_reached_moves_on_to_the_next_checked_one(monkeypatch):
    with Receiver() as receiver:
        checked = netguard.check_url(receiver.url(), allow_private=True)
        target = dataclasses.replace(checked, addresses=("127.0.0.2", *checked.addresses))
        opened = outbound._connection

        def connection(target, address, timeout, ssl_context):
            conn = opened(target, address, timeout, ssl_context)
            if address == "127.0.0.2":  # a dead A record: the connect times out
                conn.connect = lambda: (_ for _ in ()).throw(TimeoutError("timed out"))
            return conn

        monkeypatch.setattr(outbound, "_connection", connection)
        assert outbound.post(target, b"{}", {}, timeout=5).status == 200
        assert len(receiver.received()) == 1
