"""Posting slots (``PUT``/``GET /v1/clients/{id}/slots``, ``"schedule": "next_slot"``): weekly local times of a
client, kept across daylight-saving changes; each post takes the next free one, and fifty at once take
fifty different ones (SQLite, and PostgreSQL with HERALD_TEST_POSTGRES)."""

from __future__ import annotations

import datetime as dt
import threading

import pytest

from conftest import assert_error
from herald.db.models import Client, db

# A Thursday noon in Paris, four days before Europe's spring change (Sunday 28 March 2027, 02:00 → 03:00).
THURSDAY = dt.datetime(2027, 3, 25, 11, 0)


@pytest.fixture
def app(build_app, plugin, clock):
    clock.set(THURSDAY)
    return build_app()


@pytest.fixture
def paris(app, tenant):
    with app.app_context(), db.connection_context():
        Client.update(timezone="Europe/Paris").where(Client.id == tenant.client.id).execute()
    return tenant


def connect(client, tenant, token: str = "tok_live_0001") -> str:
    response = client.post("/v1/accounts", json={"platform": "scripted", "access_token": token},
                           headers=tenant.headers)
    assert response.status_code in (200, 201), response.get_json()
    return response.get_json()["id"]


def put_slots(client, tenant, slots, client_id=None):
    return client.put(f"/v1/clients/{client_id or tenant.client.id}/slots", json={"slots": slots},
                      headers=tenant.headers)


def publish(client, tenant, accounts, schedule="next_slot", **extra):
    return client.post("/v1/publish", headers=tenant.headers, json={
        "accounts": accounts, "client_id": tenant.client.id, "content": "Spring menu", "schedule": schedule,
        **extra})


def published_at(client, tenant, accounts, **extra) -> str:
    response = publish(client, tenant, accounts, **extra)
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["schedule"]["slot"] is True
    return body["scheduled_at"]


def calendar(client, tenant, **query):
    response = client.get(f"/v1/clients/{tenant.client.id}/slots", query_string=query, headers=tenant.headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


# -- the weekly plan ---------------------------------------------------------------------------------------

def test_put_replaces_the_plan_dedupes_and_shows_it_in_order(client, paris):
    account = connect(client, paris)
    response = put_slots(client, paris, [{"day": "friday", "time": "17:30"}, {"day": "monday", "time": "09:00"},
                                         {"day": "monday", "time": "09:00"},
                                         {"day": "monday", "time": "09:00", "account": account}])
    assert response.status_code == 200, response.get_json()
    assert response.get_json() == {"client_id": paris.client.id, "timezone": "Europe/Paris", "slots": [
        {"day": "monday", "time": "09:00", "account": None}, {"day": "friday", "time": "17:30", "account": None},
        {"day": "monday", "time": "09:00", "account": account}]}
    assert put_slots(client, paris, [{"day": "sunday", "time": "00:00"}]).get_json()["slots"] == [
        {"day": "sunday", "time": "00:00", "account": None}]
    assert put_slots(client, paris, []).get_json()["slots"] == []


@pytest.mark.parametrize(("slot", "field"), [
    ({"day": "Monday", "time": "09:00"}, "slots.0.day"),
    ({"day": "someday", "time": "09:00"}, "slots.0.day"),
    ({"day": "monday", "time": "9:00"}, "slots.0.time"),
    ({"day": "monday", "time": "24:00"}, "slots.0.time"),
    ({"day": "monday", "time": "09:60"}, "slots.0.time"),
    ({"day": "monday"}, "slots.0.time"),
    ({"day": "monday", "time": "09:00", "account": "42"}, "slots.0.account"),
    ({"day": "monday", "time": "09:00", "extra": 1}, "slots.0.extra"),
])
def test_a_bad_slot_is_400_naming_it(client, paris, slot, field):
    assert_error(put_slots(client, paris, [slot]), 400, "validation_error", field)


def test_more_than_a_hundred_slots_is_400(client, paris):
    many = [{"day": day, "time": f"{hour:02d}:00"} for day in ("monday", "tuesday", "wednesday", "thursday",
                                                                 "friday") for hour in range(21)]
    assert_error(put_slots(client, paris, many), 400, "validation_error", "slots")


def test_an_unknown_account_is_404_naming_it(client, paris):
    response = put_slots(client, paris, [{"day": "monday", "time": "09:00"},
                                         {"day": "monday", "time": "10:00", "account": "acc_999"}])
    assert_error(response, 404, "not_found", "slots.1.account")
    assert calendar(client, paris)["slots"] == []


def test_another_workspaces_client_and_account_are_not_found(client, paris, make_tenant):
    other = make_tenant("Other")
    theirs = connect(client, other, "tok_live_0002")
    assert_error(put_slots(client, paris, [{"day": "monday", "time": "09:00"}], client_id=other.client.id),
                 404, "not_found")
    assert_error(put_slots(client, paris, [{"day": "monday", "time": "09:00", "account": theirs}]),
                 404, "not_found", "slots.0.account")


# -- the coming slots, across a daylight-saving change -------------------------------------------------------

def test_local_times_stay_across_the_spring_change(client, paris):
    put_slots(client, paris, [{"day": "saturday", "time": "09:00"}, {"day": "sunday", "time": "02:30"},
                              {"day": "monday", "time": "09:00"}])
    body = calendar(client, paris, days=4)
    assert (body["from"], body["until"]) == ("2027-03-25T11:00:00Z", "2027-03-29T11:00:00Z")
    assert [(slot["at"], slot["local"]) for slot in body["upcoming"]] == [
        ("2027-03-27T08:00:00Z", "2027-03-27T09:00:00+01:00"),  # winter time
        ("2027-03-28T01:30:00Z", "2027-03-28T03:30:00+02:00"),  # 02:30 does not exist that night: an hour later
        ("2027-03-29T07:00:00Z", "2027-03-29T09:00:00+02:00"),  # summer time, still 09:00 in Paris
    ]
    assert all(slot["post"] is None for slot in body["upcoming"])


def test_local_times_stay_across_the_autumn_change(client, paris):
    put_slots(client, paris, [{"day": "saturday", "time": "09:00"}, {"day": "monday", "time": "09:00"}])
    body = calendar(client, paris, **{"from": "2027-10-30T00:00:00", "days": 3})  # Paris time; change on the 31st
    assert body["from"] == "2027-10-29T22:00:00Z"
    assert [slot["at"] for slot in body["upcoming"]] == ["2027-10-30T07:00:00Z", "2027-11-01T08:00:00Z"]


def test_calendar_query_is_checked(client, paris):
    url = f"/v1/clients/{paris.client.id}/slots"
    assert_error(client.get(url, query_string={"from": "next week"}, headers=paris.headers), 400,
                 "validation_error", "from")
    assert_error(client.get(url, query_string={"days": 93}, headers=paris.headers), 400, "validation_error", "days")
    assert_error(client.get(url, query_string={"from": "0001-01-01T00:00:00Z"}, headers=paris.headers), 400,
                 "validation_error", "from")


# -- "next_slot" -------------------------------------------------------------------------------------------

def test_next_slot_takes_free_slots_in_order_and_the_calendar_shows_them(client, paris):
    account = connect(client, paris)
    put_slots(client, paris, [{"day": "friday", "time": "09:00"}, {"day": "thursday", "time": "11:00"},
                              {"day": "monday", "time": "09:00"}])
    # Thursday 11:00 Paris (10:00Z) is already past; Friday 09:00 is next, then Monday after the change.
    first = publish(client, paris, [account])
    assert first.status_code == 201, first.get_json()
    assert first.get_json()["scheduled_at"] == "2027-03-26T08:00:00Z"
    assert first.get_json()["schedule"] == {"now": False, "timezone": "Europe/Paris", "slot": True}
    assert published_at(client, paris, [account]) == "2027-03-29T07:00:00Z"
    assert published_at(client, paris, [account]) == "2027-04-01T09:00:00Z"
    upcoming = calendar(client, paris, days=8)["upcoming"]
    assert [(slot["time"], slot["post"]) for slot in upcoming] == [
        ("09:00", {"id": first.get_json()["id"], "status": "queued"}),
        ("09:00", {"id": upcoming[1]["post"]["id"], "status": "queued"}),
        ("11:00", {"id": upcoming[2]["post"]["id"], "status": "queued"}),
        ("09:00", None),
    ]


def test_a_post_scheduled_at_a_slot_time_takes_it(client, paris):
    account = connect(client, paris)
    put_slots(client, paris, [{"day": "friday", "time": "09:00"}, {"day": "saturday", "time": "09:00"}])
    explicit = publish(client, paris, [account], schedule="2027-03-26T09:00:00")  # Paris time
    assert explicit.status_code == 201, explicit.get_json()
    assert "slot" not in explicit.get_json()["schedule"]
    assert published_at(client, paris, [account]) == "2027-03-27T08:00:00Z"


def test_cancelling_or_moving_a_post_frees_its_slot(client, paris):
    account = connect(client, paris)
    put_slots(client, paris, [{"day": "friday", "time": "09:00"}, {"day": "saturday", "time": "09:00"}])
    first = publish(client, paris, [account]).get_json()
    assert first["scheduled_at"] == "2027-03-26T08:00:00Z"
    assert client.delete(f"/v1/posts/{first['id']}", headers=paris.headers).status_code == 200
    second = publish(client, paris, [account]).get_json()
    assert second["scheduled_at"] == "2027-03-26T08:00:00Z"
    moved = client.patch(f"/v1/posts/{second['id']}", json={"schedule": "2027-04-10T12:00:00Z"},
                         headers=paris.headers)
    assert moved.status_code == 200, moved.get_json()
    assert published_at(client, paris, [account]) == "2027-03-26T08:00:00Z"


def test_rejecting_a_post_frees_its_slot(client, app, paris):
    assert client.patch("/api/workspace", json={"require_approval": True}, headers=paris.headers).status_code == 200
    account = connect(client, paris)
    put_slots(client, paris, [{"day": "friday", "time": "09:00"}, {"day": "saturday", "time": "09:00"}])
    waiting = publish(client, paris, [account]).get_json()
    assert (waiting["status"], waiting["scheduled_at"]) == ("pending_approval", "2027-03-26T08:00:00Z")
    assert published_at(client, paris, [account]) == "2027-03-27T08:00:00Z"  # waiting for approval still takes it
    rejected = client.post(f"/v1/posts/{waiting['id']}/reject", json={}, headers=paris.headers)
    assert rejected.status_code == 200, rejected.get_json()
    assert published_at(client, paris, [account]) == "2027-03-26T08:00:00Z"


def test_reschedule_to_the_next_slot(client, paris):
    account = connect(client, paris)
    put_slots(client, paris, [{"day": "friday", "time": "09:00"}, {"day": "saturday", "time": "09:00"}])
    later = publish(client, paris, [account], schedule="2027-05-01T10:00:00Z").get_json()
    assert published_at(client, paris, [account]) == "2027-03-26T08:00:00Z"
    moved = client.patch(f"/v1/posts/{later['id']}", json={"schedule": "next_slot"}, headers=paris.headers)
    assert moved.status_code == 200, moved.get_json()
    assert moved.get_json()["scheduled_at"] == "2027-03-27T08:00:00Z"
    assert moved.get_json()["schedule"]["slot"] is True
    again = client.patch(f"/v1/posts/{later['id']}", json={"schedule": "next_slot"}, headers=paris.headers)
    assert again.get_json()["scheduled_at"] == "2027-03-27T08:00:00Z"  # its own slot is free for it


def test_a_single_account_post_takes_its_accounts_slots(client, paris):
    instagram, facebook = connect(client, paris, "tok_live_0001"), connect(client, paris, "tok_live_0002")
    put_slots(client, paris, [{"day": "friday", "time": "09:00"},
                              {"day": "friday", "time": "09:00", "account": instagram},
                              {"day": "saturday", "time": "18:00", "account": instagram}])
    assert published_at(client, paris, [instagram]) == "2027-03-26T08:00:00Z"
    assert published_at(client, paris, [instagram]) == "2027-03-27T17:00:00Z"
    # The Instagram post at 09:00 on Friday takes the shared slot of that instant too (no account gets two
    # posts at once): the next shared one is a week later, for a post to one account or to several.
    assert published_at(client, paris, [facebook]) == "2027-04-02T07:00:00Z"
    assert published_at(client, paris, [instagram, facebook]) == "2027-04-09T07:00:00Z"
    assert published_at(client, paris, [instagram]) == "2027-04-02T07:00:00Z"  # its own slot: free of the shared
    upcoming = calendar(client, paris, days=3)["upcoming"]
    assert [(slot["account"], slot["post"] is not None) for slot in upcoming] == [
        (None, True), (instagram, True), (instagram, True)]


def test_next_slot_needs_a_client_with_slots(client, paris):
    instagram, facebook = connect(client, paris, "tok_live_0001"), connect(client, paris, "tok_live_0002")
    response = client.post("/v1/publish", headers=paris.headers, json={
        "accounts": [instagram], "content": "x", "schedule": "next_slot"})
    error = assert_error(response, 400, "validation_error", "schedule")
    assert "client" in error["message"]
    error = assert_error(publish(client, paris, [instagram]), 400, "validation_error", "schedule")
    assert f"PUT /v1/clients/{paris.client.id}/slots" in error["message"]
    without_client = client.post("/v1/publish", headers=paris.headers, json={
        "accounts": [instagram], "content": "x", "schedule": "2027-04-01T10:00:00Z"}).get_json()["id"]
    moved = client.patch(f"/v1/posts/{without_client}", json={"schedule": "next_slot"}, headers=paris.headers)
    assert_error(moved, 400, "validation_error", "schedule")
    put_slots(client, paris, [{"day": "friday", "time": "09:00", "account": instagram}])
    error = assert_error(publish(client, paris, [instagram, facebook]), 400, "validation_error", "schedule")
    assert "shared" in error["message"]


def test_a_batch_takes_one_slot_per_post(client, paris):
    account = connect(client, paris)
    put_slots(client, paris, [{"day": "friday", "time": "09:00"}, {"day": "saturday", "time": "09:00"}])
    item = {"accounts": [account], "client_id": paris.client.id, "content": "x", "schedule": "next_slot"}
    response = client.post("/v1/publish/batch", json={"posts": [item, item]}, headers=paris.headers)
    assert response.status_code == 201, response.get_json()
    assert [post["scheduled_at"] for post in response.get_json()["posts"]] == [
        "2027-03-26T08:00:00Z", "2027-03-27T08:00:00Z"]


# -- fifty at once -----------------------------------------------------------------------------------------

CONCURRENT = 50


def test_fifty_concurrent_requests_take_fifty_distinct_slots(app, client, paris):
    account = connect(client, paris)
    every_day = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
    put_slots(client, paris, [{"day": day, "time": time} for day in every_day for time in ("09:00", "18:00")])
    barrier = threading.Barrier(CONCURRENT)
    results: list = [None] * CONCURRENT

    def run(index):
        own = app.test_client()
        barrier.wait()
        try:
            results[index] = publish(own, paris, [account])
        except BaseException as exc:  # reported below, not lost in the thread
            results[index] = exc
        finally:
            db.close()

    threads = [threading.Thread(target=run, args=(index,)) for index in range(CONCURRENT)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "a request never finished (deadlock?)"
    for result in results:
        assert not isinstance(result, BaseException), repr(result)
        assert result.status_code == 201, result.get_json()
    times = sorted(result.get_json()["scheduled_at"] for result in results)
    assert len(set(times)) == CONCURRENT
    upcoming = calendar(client, paris, days=26)["upcoming"]
    expected = [slot["at"] for slot in upcoming if slot["at"] > "2027-03-25T11:00:00Z"][:CONCURRENT]
    assert times == expected  # the first fifty free slots, none skipped
