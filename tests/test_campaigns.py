"""Campaigns: create, list, get with posts and aggregate engagement, update; posts join a campaign
through create_post, /v1/publish and PATCH /v1/posts/{id}; another workspace's campaign is a 404."""

from __future__ import annotations

import datetime as dt

import pytest
from intel_data import make_post, push

from conftest import assert_error
from fakes.graph import PAGE_TOKEN
from herald.db.models import Campaign, Client, Post, PostVersion, db


def create(client, tenant, **body):
    body.setdefault("client_id", tenant.client.id)
    return client.post("/api/campaigns", json=body, headers=tenant.headers)


def test_create_list_get_update(client, tenant):
    response = create(client, tenant, name=" Spring launch ", goal="Sell 500 hot cross buns",
                      starts_on="2026-03-01", ends_on="2026-04-15", status="active")
    assert response.status_code == 201
    campaign = response.get_json()["campaign"]
    assert {key: campaign[key] for key in ("name", "client_id", "goal", "starts_on", "ends_on", "status",
                                           "post_count")} == {
        "name": "Spring launch", "client_id": tenant.client.id, "goal": "Sell 500 hot cross buns",
        "starts_on": "2026-03-01", "ends_on": "2026-04-15", "status": "active", "post_count": 0}
    second = create(client, tenant, name="Summer").get_json()["campaign"]
    assert second["status"] == "planned" and second["starts_on"] is None
    listed = client.get("/api/campaigns", headers=tenant.headers).get_json()
    assert listed["total"] == 2 and [c["name"] for c in listed["campaigns"]] == ["Summer", "Spring launch"]
    active = client.get("/api/campaigns?status=active", headers=tenant.headers).get_json()
    assert [c["id"] for c in active["campaigns"]] == [campaign["id"]]
    changed = client.patch(f"/api/campaigns/{second['id']}", json={"status": "paused", "ends_on": "2026-08-31"},
                           headers=tenant.headers).get_json()["campaign"]
    assert (changed["status"], changed["ends_on"], changed["name"]) == ("paused", "2026-08-31", "Summer")


def test_campaign_validation(client, tenant, make_tenant):
    assert_error(create(client, tenant, name="x", starts_on="2026-05-02", ends_on="2026-05-01"), 400,
                 "validation_error", "ends_on")
    assert_error(create(client, tenant, name="x", starts_on="2026-02-30"), 400, "validation_error", "starts_on")
    assert_error(create(client, tenant, name="   "), 400, "validation_error", "name")
    assert_error(create(client, tenant, name="x", status="done"), 400, "validation_error", "status")
    other = make_tenant("Other agency")
    assert_error(create(client, tenant, name="x", client_id=other.client.id), 404, "not_found", "client_id")
    assert_error(client.get("/api/campaigns?status=nope", headers=tenant.headers), 400, "validation_error", "status")
    campaign = create(client, tenant, name="Mine").get_json()["campaign"]
    assert_error(client.patch(f"/api/campaigns/{campaign['id']}", json={}, headers=tenant.headers), 400,
                 "validation_error")
    assert_error(client.patch(f"/api/campaigns/{campaign['id']}", json={"ends_on": "2020-01-01",
                                                                        "starts_on": "2021-01-01"},
                              headers=tenant.headers), 400, "validation_error", "ends_on")


def test_another_workspaces_campaign_is_not_found(client, tenant, make_tenant):
    other = make_tenant("Other agency")
    theirs = create(client, other, name="Theirs").get_json()["campaign"]
    assert_error(client.get(f"/api/campaigns/{theirs['id']}", headers=tenant.headers), 404, "not_found")
    assert_error(client.patch(f"/api/campaigns/{theirs['id']}", json={"name": "pwned"}, headers=tenant.headers),
                 404, "not_found")
    assert client.get("/api/campaigns", headers=tenant.headers).get_json()["total"] == 0
    made = client.post("/api/webhooks", headers=tenant.headers, json={
        "action": "create_post", "client_id": tenant.client.id, "caption": "Hi", "campaign_id": theirs["id"]})
    assert_error(made, 404, "not_found", "campaign_id")
    with db.connection_context():
        assert Post.select().count() == 0


def test_a_campaign_for_another_client_is_refused(client, tenant):
    with db.connection_context():
        other_client = Client.create(workspace=tenant.workspace.id, name="Second bakery")
    campaign = create(client, tenant, name="Theirs", client_id=other_client.id).get_json()["campaign"]
    made = client.post("/api/webhooks", headers=tenant.headers, json={
        "action": "create_post", "client_id": tenant.client.id, "caption": "Hi", "campaign_id": campaign["id"]})
    assert_error(made, 400, "validation_error", "campaign_id")


def test_campaign_shows_its_posts_and_their_engagement(client, tenant):
    campaign = create(client, tenant, name="Spring launch").get_json()["campaign"]
    made = client.post("/api/webhooks", headers=tenant.headers, json={
        "action": "create_post", "client_id": tenant.client.id, "caption": "Hot cross buns are back!",
        "platforms": "instagram", "campaign_id": campaign["id"]})
    assert made.status_code == 201 and made.get_json()["post"]["campaign_id"] == campaign["id"]
    first = made.get_json()["post"]["id"]
    second = make_post(tenant, "Buns, day two", dt.datetime(2026, 3, 2, 9))
    outside = make_post(tenant, "Not in it", dt.datetime(2026, 3, 3, 9))
    with db.connection_context():
        Post.update(campaign=campaign["id"]).where(Post.id == second).execute()
    push(client, tenant, [
        {"post_id": first, "likes": 50, "comments": 10, "saves": 5, "shares": 5, "reach": 1000},
        {"post_id": first, "likes": 80, "comments": 10, "saves": 5, "shares": 5, "reach": 1500},  # newer: counts
        {"post_id": second, "likes": 20, "reach": 500},
        {"post_id": outside, "likes": 999, "reach": 1000},
    ])
    body = client.get(f"/api/campaigns/{campaign['id']}", headers=tenant.headers).get_json()["campaign"]
    assert body["post_count"] == 2 and [post["id"] for post in body["posts"]] == [first, second]
    assert body["posts"][0]["engagement"] == {"likes": 80, "comments": 10, "saves": 5, "shares": 5, "reach": 1500}
    assert body["posts"][0]["engagement_rate"] == 0.066667
    assert body["engagement"] == {
        "posts_with_engagement": 2,
        "totals": {"likes": 100, "comments": 10, "saves": 5, "shares": 5, "reach": 2000},
        "interactions": 120,
        "engagement_rate": 0.06,
        "average_post_engagement_rate": round((100 / 1500 + 20 / 500) / 2, 6),
    }
    listed = client.get(f"/api/campaigns?client_id={tenant.client.id}", headers=tenant.headers).get_json()
    assert listed["campaigns"][0]["post_count"] == 2


@pytest.fixture
def page_account(client, tenant, fake, build_app):
    app = build_app(**fake.hosts())
    http = app.test_client()
    account = http.post("/v1/accounts", json={"platform": "facebook", "access_token": PAGE_TOKEN},
                        headers=tenant.headers).get_json()["id"]
    return http, account


def test_v1_publish_and_patch_set_the_campaign(page_account, tenant, make_tenant):
    http, account = page_account
    campaign = create(http, tenant, name="Spring launch").get_json()["campaign"]
    later = (dt.datetime.now(dt.UTC) + dt.timedelta(days=7)).strftime("%Y-%m-%dT%H:%M:%SZ")
    published = http.post("/v1/publish", json={"content": "Buns!", "accounts": [account], "schedule": later,
                                               "client_id": tenant.client.id, "campaign_id": campaign["id"]},
                          headers=tenant.headers)
    assert published.status_code == 201 and published.get_json()["campaign_id"] == campaign["id"]
    post_id = published.get_json()["id"]
    out = http.patch(f"/v1/posts/{post_id}", json={"campaign_id": None}, headers=tenant.headers)
    assert out.status_code == 200 and out.get_json()["campaign_id"] is None and "schedule" not in out.get_json()
    both = http.patch(f"/v1/posts/{post_id}", json={"campaign_id": campaign["id"], "schedule": later},
                      headers=tenant.headers).get_json()
    assert both["campaign_id"] == campaign["id"] and both["schedule"]["now"] is False
    with db.connection_context():
        changes = [v.changes.get("campaign_id") for v in PostVersion.select()
                   .where(PostVersion.post == int(post_id.removeprefix("post_"))).order_by(PostVersion.number)]
    assert [c for c in changes if c] == [{"before": None, "after": campaign["id"]},
                                         {"before": campaign["id"], "after": None},
                                         {"before": None, "after": campaign["id"]}]
    theirs = create(http, make_tenant("Other agency"), name="Theirs").get_json()["campaign"]
    assert_error(http.patch(f"/v1/posts/{post_id}", json={"campaign_id": theirs["id"], "schedule": "now"},
                            headers=tenant.headers), 404, "not_found", "campaign_id")
    with db.connection_context():  # the refused request changed nothing, not even the schedule
        post = Post.get_by_id(int(post_id.removeprefix("post_")))
        assert post.campaign_id == campaign["id"] and post.scheduled_at is not None
        assert Campaign.select().count() == 2
    assert_error(http.patch(f"/v1/posts/{post_id}", json={}, headers=tenant.headers), 400, "validation_error")
