"""Edits of one post at the same moment, from real threads through the real API (SQLite, and PostgreSQL
with HERALD_TEST_POSTGRES): each edit sees the post as the previous one left it, so version numbers
follow each other and every version's "before" is the previous version's "after"; an edit that no
longer applies is a clean 409, never a 500 or a second approval."""

from __future__ import annotations

import datetime as dt
import threading

import pytest

from herald.db.models import Event, Post, db, isoformat, utcnow
from herald.publishing.versions import state_after

THREADS = 6


@pytest.fixture
def app(build_app, plugin):
    return build_app()


def connect(client, tenant) -> str:
    response = client.post("/v1/accounts", json={"platform": "scripted", "access_token": "tok_live_0001"},
                           headers=tenant.headers)
    assert response.status_code in (200, 201), response.get_json()
    return response.get_json()["id"]


def publish_later(client, tenant, account: str) -> str:
    when = isoformat(utcnow().replace(microsecond=0) + dt.timedelta(days=20))
    response = client.post("/v1/publish", headers=tenant.headers, json={
        "accounts": [account], "client_id": tenant.client.id, "content": "Autumn menu", "schedule": when})
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


def all_at_once(app, calls) -> list:
    """Run each ``call(test_client)`` in its own thread, released together; their responses, in order."""
    barrier = threading.Barrier(len(calls))
    results: list = [None] * len(calls)

    def run(index, call):
        client = app.test_client()
        barrier.wait()
        try:
            results[index] = call(client)
        except BaseException as exc:  # reported by the assertions below, not lost in the thread
            results[index] = exc
        finally:
            db.close()

    threads = [threading.Thread(target=run, args=(index, call)) for index, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "an edit never finished (deadlock?)"
    for result in results:
        assert not isinstance(result, BaseException), repr(result)
    return results


def assert_consistent_history(client, tenant, post_id: str) -> list[dict]:
    """Numbers 1..n with no gap, and each version starts from where the one before it ended."""
    response = client.get(f"/api/posts/{post_id}/versions", headers=tenant.headers)
    assert response.status_code == 200, response.get_json()
    rows = response.get_json()["versions"]
    assert [row["number"] for row in rows] == list(range(1, len(rows) + 1))
    for index in range(1, len(rows)):
        previous = state_after([_Version(row["changes"], row["number"]) for row in rows[:index]],
                               rows[index - 1]["number"])
        for name, change in rows[index]["changes"].items():
            if name in previous:
                assert change["before"] == previous[name], (rows[index]["number"], name, change, previous[name])
    return rows


class _Version:
    def __init__(self, changes, number):
        self.changes, self.number = changes, number


def test_simultaneous_reschedules_get_consecutive_versions(app, client, tenant):
    post_id = publish_later(client, tenant, connect(client, tenant))
    times = [isoformat(utcnow().replace(microsecond=0) + dt.timedelta(days=21 + index)) for index in range(THREADS)]

    def reschedule(when):
        return lambda http: http.patch(f"/v1/posts/{post_id}", json={"schedule": when}, headers=tenant.headers)

    responses = all_at_once(app, [reschedule(when) for when in times])
    assert [response.status_code for response in responses] == [200] * THREADS
    rows = assert_consistent_history(client, tenant, post_id)
    assert len(rows) == 1 + THREADS
    # The post holds the time of the edit that came last.
    assert client.get(f"/v1/posts/{post_id}", headers=tenant.headers).get_json()["scheduled_at"] == \
        rows[-1]["changes"]["scheduled_at"]["after"]


def test_mixed_edits_at_once_succeed_in_turn_or_get_a_clean_409(app, client, tenant):
    post_id = publish_later(client, tenant, connect(client, tenant))
    campaign = client.post("/api/campaigns", json={"name": "Autumn", "client_id": tenant.client.id},
                           headers=tenant.headers)
    assert campaign.status_code == 201, campaign.get_json()
    campaign_id = campaign.get_json()["campaign"]["id"]
    later = isoformat(utcnow().replace(microsecond=0) + dt.timedelta(days=25))
    calls = [
        lambda http: http.patch(f"/v1/posts/{post_id}", json={"schedule": later}, headers=tenant.headers),
        lambda http: http.patch(f"/v1/posts/{post_id}", json={"campaign_id": campaign_id}, headers=tenant.headers),
        lambda http: http.post("/api/intelligence/score", json={"post_id": post_id}, headers=tenant.headers),
        lambda http: http.post(f"/api/posts/{post_id}/versions/1/restore", headers=tenant.headers),
        lambda http: http.delete(f"/v1/posts/{post_id}", headers=tenant.headers),
        lambda http: http.patch(f"/v1/posts/{post_id}", json={"schedule": "now"}, headers=tenant.headers),
    ]
    responses = all_at_once(app, calls)
    for response in responses:
        assert response.status_code in (200, 409), (response.status_code, response.get_json())
        if response.status_code == 409:
            assert response.get_json()["error"]["code"] == "conflict"
    assert responses[4].status_code == 200  # cancelling a post that has not started always works
    rows = assert_consistent_history(client, tenant, post_id)
    assert state_after([_Version(row["changes"], row["number"]) for row in rows], rows[-1]["number"])["status"] \
        == "cancelled"
    assert client.get(f"/v1/posts/{post_id}", headers=tenant.headers).get_json()["status"] == "cancelled"


@pytest.mark.parametrize("second", ["approve", "reject"])
def test_two_reviews_at_once_one_wins_the_other_is_409(app, client, tenant, second):
    assert client.patch("/api/workspace", json={"require_approval": True}, headers=tenant.headers).status_code == 200
    post_id = publish_later(client, tenant, connect(client, tenant))
    calls = [lambda http: http.post(f"/v1/posts/{post_id}/approve", json={}, headers=tenant.headers),
             lambda http: http.post(f"/v1/posts/{post_id}/{second}", json={"note": "No"}, headers=tenant.headers)]
    responses = all_at_once(app, calls)
    assert sorted(response.status_code for response in responses) == [200, 409]
    loser = next(response for response in responses if response.status_code == 409)
    assert "not waiting for approval" in loser.get_json()["error"]["message"]
    rows = assert_consistent_history(client, tenant, post_id)
    assert len(rows) == 2
    with db.connection_context():
        decided = list(Event.select().where(Event.type.in_(["post.approved", "post.rejected"])))
        assert len(decided) == 1
        assert Post.get_by_id(int(post_id.removeprefix("post_"))).status == (
            "queued" if decided[0].type == "post.approved" else "rejected")
