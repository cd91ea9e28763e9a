"""GET /v1/posts/{id}/engagement and GET /v1/analytics on engagement built row by row, with known
numbers, a clock set by the test and a client in Tokyo (UTC+9, no daylight saving)."""

from __future__ import annotations

import datetime as dt

import pytest

from conftest import assert_error
from herald.db.models import Account, Client, EngagementSnapshot, Post, PublishTask, db

NOW = dt.datetime(2026, 3, 18, 12, 0)  # a Wednesday, 21:00 in Tokyo
TOKYO = "Asia/Tokyo"


@pytest.fixture
def world(clock, tenant, make_tenant):
    """Accounts (two on Instagram, one Page) and a builder of posts with tasks and snapshots."""
    clock.set(NOW)
    with db.connection_context():
        Client.update(timezone=TOKYO).where(Client.id == tenant.client.id).execute()
        other_client = Client.create(workspace=tenant.workspace.id, name="Other client")
        accounts = {name: Account.create(workspace=tenant.workspace.id, platform=platform, external_id=name,
                                         username=name, token_encrypted="x")
                    for name, platform in (("bakery", "instagram"), ("bakery_page", "facebook"),
                                           ("second", "instagram"))}

    def post(published_at, tasks=(), snapshots=(), client=tenant.client.id, platforms=None) -> Post:
        with db.connection_context():
            row = Post.create(workspace=tenant.workspace.id, client=client, caption="x", status="published",
                              platforms=platforms or list(dict.fromkeys(accounts[name].platform for name in tasks)),
                              published_at=published_at, created_at=published_at)
            for name in tasks:
                PublishTask.create(workspace=tenant.workspace.id, post=row, account=accounts[name],
                                   platform=accounts[name].platform, status="published", published_at=published_at)
            for source, recorded_at, figures in snapshots:
                EngagementSnapshot.create(post=row, source=source, recorded_at=recorded_at, **figures)
        return row

    return post, accounts, other_client


def at(day: int, hour: int, minute: int = 0) -> dt.datetime:
    """A naive UTC time in March 2026."""
    return dt.datetime(2026, 3, day, hour, minute)


def figures(likes=0, comments=0, saves=0, shares=0, reach=0, impressions=None) -> dict:
    return {"likes": likes, "comments": comments, "saves": saves, "shares": shares, "reach": reach,
            "impressions": impressions}


@pytest.fixture
def posts(world):
    """Four measured posts of the client in the period, one unmeasured, one too old, one of another client."""
    post, accounts, other_client = world
    both = post(at(16, 1, 30), ["bakery", "bakery_page"], [
        ("instagram", at(16, 6), figures(likes=1, reach=10)),
        ("instagram", at(17, 6), figures(likes=10, comments=2, saves=1, reach=100, impressions=150)),
        ("facebook", at(17, 6), figures(likes=5, comments=1, reach=50))])
    pushed = post(at(15, 3), ["bakery"], [("instagram", at(15, 9), figures(likes=1, reach=5)),
                                          ("api", at(16, 9), figures(likes=3, reach=30))])
    two_accounts = post(at(14, 3), ["bakery", "second"], [("instagram", at(15, 3), figures(likes=4))])
    unattributed = post(at(13, 3), ["bakery", "bakery_page"], [("action", at(14, 3), figures(likes=7, reach=70))])
    post(at(12, 3), ["bakery"])  # no figures yet
    post(dt.datetime(2026, 2, 5, 3), ["bakery"], [("instagram", at(1, 0), figures(likes=1000, reach=1000))])
    post(at(12, 3), ["bakery"], [("instagram", at(13, 0), figures(likes=500, reach=500))], client=other_client.id)
    return {"both": both, "pushed": pushed, "two_accounts": two_accounts, "unattributed": unattributed,
            "accounts": accounts}


def test_totals_and_rates_per_platform_and_account(client, tenant, posts):
    response = client.get(f"/v1/analytics?client_id={tenant.client.id}&period=30", headers=tenant.headers)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["client_id"] == tenant.client.id
    assert body["period"] == {"days": 30, "from": "2026-02-17", "to": "2026-03-18", "timezone": TOKYO}
    assert body["totals"] == {"posts": 4, "likes": 29, "comments": 3, "saves": 1, "shares": 0, "reach": 250,
                              "impressions": 150, "interactions": 33, "engagement_rate": 13.2}
    assert body["platforms"] == [
        {"platform": "facebook", "posts": 1, "likes": 5, "comments": 1, "saves": 0, "shares": 0, "reach": 50,
         "impressions": None, "interactions": 6, "engagement_rate": 12.0},
        {"platform": "instagram", "posts": 3, "likes": 17, "comments": 2, "saves": 1, "shares": 0, "reach": 130,
         "impressions": 150, "interactions": 20, "engagement_rate": 15.38}]
    bakery, page = posts["accounts"]["bakery"], posts["accounts"]["bakery_page"]
    assert body["accounts"] == [
        {"account_id": f"acc_{bakery.id}", "platform": "instagram", "username": "bakery", "posts": 2, "likes": 13,
         "comments": 2, "saves": 1, "shares": 0, "reach": 130, "impressions": 150, "interactions": 16,
         "engagement_rate": 12.31},
        {"account_id": f"acc_{page.id}", "platform": "facebook", "username": "bakery_page", "posts": 1, "likes": 5,
         "comments": 1, "saves": 0, "shares": 0, "reach": 50, "impressions": None, "interactions": 6,
         "engagement_rate": 12.0}]
    best = body["best_times"]
    assert (best["weekday"], best["hour"], best["posts"]) == (None, None, 4)
    assert best["note"] == "Only 4 posts with engagement in this period; best times need at least 10."


def test_the_workspace_without_a_client_and_a_shorter_period(client, tenant, posts):
    everything = client.get("/v1/analytics", headers=tenant.headers).get_json()
    assert everything["client_id"] is None and everything["period"]["timezone"] == "UTC"
    assert everything["totals"]["posts"] == 5 and everything["totals"]["likes"] == 29 + 500
    # Two days in Tokyo, the 17th and the 18th: nothing went out then; three days take in the 16th.
    recent = client.get(f"/v1/analytics?client_id={tenant.client.id}&period=2", headers=tenant.headers).get_json()
    assert recent["period"] == {"days": 2, "from": "2026-03-17", "to": "2026-03-18", "timezone": TOKYO}
    assert recent["totals"]["posts"] == 0
    three = client.get(f"/v1/analytics?client_id={tenant.client.id}&period=3", headers=tenant.headers).get_json()
    assert three["totals"]["posts"] == 1 and three["totals"]["likes"] == 15


def test_no_reach_is_a_null_rate_not_zero(client, tenant, world):
    post, _, _ = world
    post(at(17, 3), ["bakery"], [("instagram", at(17, 6), figures(likes=4))])
    body = client.get(f"/v1/analytics?client_id={tenant.client.id}", headers=tenant.headers).get_json()
    assert body["totals"]["interactions"] == 4 and body["totals"]["engagement_rate"] is None


def test_best_weekday_and_hour_are_read_in_the_clients_time_zone(client, tenant, world):
    post, _, _ = world
    # Tuesday 17:00 UTC is Wednesday 02:00 in Tokyo; Monday 09:00 UTC is Monday 18:00 there.
    for index in range(5):
        post(at(10, 17, index), ["bakery"], [("instagram", at(11, 0), figures(likes=30, reach=100))])
        post(at(9, 9, index), ["bakery"], [("instagram", at(10, 0), figures(likes=10, reach=100))])
    # One post on a Friday noon in Tokyo did best of all, but one post is no pattern.
    post(at(13, 3), ["bakery"], [("instagram", at(14, 0), figures(likes=100, reach=100))])
    best = client.get(f"/v1/analytics?client_id={tenant.client.id}", headers=tenant.headers).get_json()["best_times"]
    assert best["timezone"] == TOKYO and best["posts"] == 11 and best["note"] is None
    assert best["weekday"] == {"value": "wednesday", "posts": 5, "average_interactions": 30.0}
    assert best["hour"] == {"value": 2, "posts": 5, "average_interactions": 30.0}


def test_analytics_parameters_are_checked(client, tenant, make_tenant):
    for query, field in (("period=0", "period"), ("period=366", "period"), ("period=x", "period"),
                         ("client_id=abc", "client_id")):
        assert_error(client.get(f"/v1/analytics?{query}", headers=tenant.headers), 400, "validation_error", field)
    other = make_tenant()
    assert_error(client.get(f"/v1/analytics?client_id={tenant.client.id}", headers=other.headers),
                 404, "not_found", "client_id")
    assert client.get("/v1/analytics?period=365", headers=tenant.headers).status_code == 200


# -- a post's history ------------------------------------------------------------------------------


def test_a_posts_history_per_platform_and_account_oldest_first(client, tenant, posts):
    bakery, page = posts["accounts"]["bakery"], posts["accounts"]["bakery_page"]
    response = client.get(f"/v1/posts/post_{posts['both'].id}/engagement", headers=tenant.headers)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["post_id"] == f"post_{posts['both'].id}"
    facebook, instagram = body["platforms"]
    assert (facebook["platform"], facebook["account_id"], facebook["username"]) == ("facebook", f"acc_{page.id}",
                                                                                    "bakery_page")
    assert facebook["snapshots"] == 1 and facebook["history"] == [facebook["latest"]]
    assert facebook["latest"] == {"likes": 5, "comments": 1, "saves": 0, "shares": 0, "reach": 50, "impressions": None,
                                  "interactions": 6, "engagement_rate": 12.0, "source": "facebook",
                                  "recorded_at": "2026-03-17T06:00:00Z"}
    assert (instagram["platform"], instagram["account_id"], instagram["snapshots"]) == ("instagram",
                                                                                        f"acc_{bakery.id}", 2)
    assert [item["likes"] for item in instagram["history"]] == [1, 10]
    assert instagram["latest"]["likes"] == 10 and instagram["latest"]["engagement_rate"] == 13.0


def test_pushed_figures_join_the_only_platform_or_stand_apart(client, tenant, posts):
    pushed = client.get(f"/v1/posts/{posts['pushed'].id}/engagement", headers=tenant.headers).get_json()
    [instagram] = pushed["platforms"]
    assert [item["source"] for item in instagram["history"]] == ["instagram", "api"]
    assert instagram["account_id"] == f"acc_{posts['accounts']['bakery'].id}"
    two = client.get(f"/v1/posts/{posts['two_accounts'].id}/engagement", headers=tenant.headers).get_json()
    assert [(entry["platform"], entry["account_id"]) for entry in two["platforms"]] == [("instagram", None)]
    apart = client.get(f"/v1/posts/{posts['unattributed'].id}/engagement", headers=tenant.headers).get_json()
    assert [(entry["platform"], entry["account_id"], entry["latest"]["source"])
            for entry in apart["platforms"]] == [(None, None, "action")]


def test_a_long_history_shows_the_newest_snapshots(client, tenant, world):
    post, _, _ = world
    row = post(at(1, 0), ["bakery"])
    with db.connection_context():
        EngagementSnapshot.bulk_create([EngagementSnapshot(post=row, source="instagram", likes=index,
                                                           recorded_at=at(1, 0) + dt.timedelta(hours=index))
                                        for index in range(245)])
    [instagram] = client.get(f"/v1/posts/{row.id}/engagement", headers=tenant.headers).get_json()["platforms"]
    assert instagram["snapshots"] == 245 and len(instagram["history"]) == 240
    assert [instagram["history"][0]["likes"], instagram["history"][-1]["likes"]] == [5, 244]


def test_a_post_without_figures_and_another_workspaces_post(client, tenant, make_tenant, world):
    post, _, _ = world
    row = post(at(17, 0), ["bakery"])
    assert client.get(f"/v1/posts/{row.id}/engagement", headers=tenant.headers).get_json() == {
        "post_id": f"post_{row.id}", "platforms": []}
    assert_error(client.get(f"/v1/posts/{row.id}/engagement", headers=make_tenant().headers), 404, "not_found")
