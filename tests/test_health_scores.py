"""Health scores on constructed workspaces: every part's numbers and score, the weighted total,
parts without data left out, the posts_per_week setting, and workspace isolation."""

from __future__ import annotations

import datetime as dt

import pytest

from conftest import assert_error
from herald.db.models import Account, Client, EngagementSnapshot, Post, PublishTask, db, utcnow


def ago(days: float = 0, hours: float = 0) -> dt.datetime:
    return utcnow() - dt.timedelta(days=days, hours=hours)


def parts(body) -> dict[str, dict]:
    return {part["name"]: part for part in body["parts"]}


def get_health(client, tenant, client_id=None):
    path = f"/api/clients/{client_id}/health" if client_id else "/api/workspace/health"
    response = client.get(path, headers=tenant.headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


class Builder:
    """Rows of one workspace, with times chosen by the test."""

    def __init__(self, tenant):
        self.tenant = tenant
        self.accounts = {}

    def account(self, name="main", **fields):
        fields.setdefault("status", "active")
        row = Account.create(workspace=self.tenant.workspace.id, platform="instagram", external_id=name,
                             username=name, token_encrypted="x", **fields)
        self.accounts[name] = row
        return row

    def post(self, client=None, *, account=None, task=None, task_at=None, engagement=None, **fields):
        fields.setdefault("created_at", ago(1))
        post = Post.create(workspace=self.tenant.workspace.id, client=(client or self.tenant.client).id,
                           caption="c", **fields)
        if task:
            PublishTask.create(workspace=self.tenant.workspace.id, post=post, account=account or self.accounts["main"],
                               platform="instagram", status=task, created_at=task_at or post.created_at,
                               updated_at=task_at or post.created_at)
        if engagement:
            EngagementSnapshot.create(post=post, **engagement)
        return post


def test_a_constructed_workspace_scores_every_part(client, tenant):
    with db.connection_context():
        build = Builder(tenant)
        second = Client.create(workspace=tenant.workspace.id, name="Quiet client")
        Client.create(workspace=tenant.workspace.id, name="Archived", deleted_at=ago(1))
        build.account("main", token_expires_at=ago(-60))
        build.account("soon", token_expires_at=ago(-3))
        build.account("dead", status="expired", status_reason="Token expired")
        build.account("gone", status="disconnected")
        # Cadence: 6 posts published by the first client in the last 28 days (1.5 a week), none by the second.
        for day in (1, 5, 9, 13, 17, 21):
            build.post(published_at=ago(day), status="published", task="published", task_at=ago(day),
                       engagement={"likes": 20, "comments": 5, "saves": 3, "shares": 2, "reach": 500})
        build.post(published_at=ago(40), status="published")  # outside the window
        # Failed publishes: 2 failed among 8 finished in the last 30 days (6 published above).
        build.post(status="failed", task="failed", task_at=ago(2))
        build.post(status="failed", task="failed", task_at=ago(3))
        build.post(status="failed", task="failed", task_at=ago(45))  # too old to count
        # Approval backlog: 2 posts waiting, the oldest for 36 hours.
        build.post(status="pending_approval", task="pending_approval", task_at=ago(hours=36))
        build.post(second, status="pending_approval", task="pending_approval", task_at=ago(hours=2))
        # Engagement: 30 interactions per post in the last 30 days (above) against 40 the 30 days before.
        for day in (35, 50):
            build.post(published_at=ago(day), status="published",
                       engagement={"likes": 30, "comments": 5, "saves": 3, "shares": 2, "reach": 400})

    body = get_health(client, tenant)
    found = parts(body)
    assert [part["name"] for part in body["parts"]] == ["cadence", "approval_backlog", "failed_publishes",
                                                         "accounts", "engagement_trend"]
    assert [part["weight"] for part in body["parts"]] == [30, 20, 20, 15, 15]
    assert found["cadence"]["numbers"] == {"target_posts_per_week": 3, "window_days": 28, "clients": 2,
                                           "posts_published": 6, "posts_per_week_per_client": 0.75,
                                           "clients_on_target": 0}
    assert found["cadence"]["score"] == 25  # (50 + 0) / 2
    assert found["cadence"]["explanation"] == ("0 of 2 clients published at least 3 posts a week over the last 28 "
                                               "days (0.75 a week per client on average).")
    assert found["approval_backlog"]["numbers"]["pending"] == 2
    assert found["approval_backlog"]["numbers"]["oldest_waiting_hours"] == pytest.approx(36, abs=0.1)
    assert found["approval_backlog"]["score"] == 50  # 1 - 36/72
    assert found["failed_publishes"]["numbers"] == {"failed": 2, "unconfirmed": 0, "finished": 8,
                                                    "failure_rate_percent": 25.0, "window_days": 30}
    assert found["failed_publishes"]["score"] == 50  # 1 - 2 * 0.25
    assert found["accounts"]["numbers"] == {"accounts": 3, "expired_or_invalid": 1, "expiring_soon": 1,
                                            "expiring_within_days": 7, "healthy": 1}
    assert found["accounts"]["score"] == 50  # 1 - (1 + 0.5) / 3
    assert "@dead (instagram)" in found["accounts"]["explanation"]
    assert "@soon (instagram)" in found["accounts"]["explanation"]
    assert found["engagement_trend"]["numbers"] == {"window_days": 30, "posts": 6, "interactions_per_post": 30.0,
                                                    "previous_posts": 2, "previous_interactions_per_post": 40.0,
                                                    "change_percent": -25.0}
    assert found["engagement_trend"]["score"] == 75
    # (25*30 + 50*20 + 50*20 + 50*15 + 75*15) / 100 = 46.25
    assert body["score"] == 46 and body["status"] == "at_risk"
    assert body["workspace_id"] == tenant.workspace.id and body["client_id"] is None
    assert body["computed_at"].endswith("Z")


def test_a_client_is_scored_on_its_own_posts_and_the_accounts_they_use(client, tenant, make_tenant):
    with db.connection_context():
        build = Builder(tenant)
        other_client = Client.create(workspace=tenant.workspace.id, name="Other")
        build.account("main")
        build.account("theirs", status="invalid")
        for day in range(1, 13, 1):  # 12 posts in 4 weeks: 3 a week, on target
            build.post(published_at=ago(day * 2), status="published", task="published", task_at=ago(day * 2))
        build.post(other_client, status="failed", task="failed", task_at=ago(1), account=build.accounts["theirs"])
    body = get_health(client, tenant, tenant.client.id)
    found = parts(body)
    assert body["client_id"] == tenant.client.id
    assert found["cadence"]["score"] == 100 and found["cadence"]["numbers"]["clients"] == 1
    assert found["cadence"]["explanation"] == ("Published 12 posts in the last 28 days: 3.0 a week against a target "
                                               "of 3.")
    assert found["failed_publishes"]["numbers"]["failed"] == 0 and found["failed_publishes"]["score"] == 100
    assert found["accounts"]["numbers"]["accounts"] == 1 and found["accounts"]["score"] == 100
    assert found["approval_backlog"]["score"] == 100
    assert found["engagement_trend"]["score"] is None  # no engagement: left out of the total
    assert body["score"] == 100 and body["status"] == "healthy"

    other = make_tenant("Other agency")
    assert_error(client.get(f"/api/clients/{tenant.client.id}/health", headers=other.headers), 404, "not_found")
    assert parts(get_health(client, other))["cadence"]["numbers"]["posts_published"] == 0


def test_posts_per_week_is_a_workspace_setting(client, tenant):
    assert client.get("/api/workspace", headers=tenant.headers).get_json()["settings"]["posts_per_week"] == 3
    with db.connection_context():
        build = Builder(tenant)
        for day in (1, 8, 15, 22):
            build.post(published_at=ago(day), status="published")
    assert parts(get_health(client, tenant))["cadence"]["score"] == 33  # 1 a week against 3
    response = client.patch("/api/workspace", json={"posts_per_week": 1}, headers=tenant.headers)
    assert response.status_code == 200 and response.get_json()["settings"]["posts_per_week"] == 1
    assert parts(get_health(client, tenant))["cadence"]["score"] == 100
    for bad in (0, 101, "3"):
        assert_error(client.patch("/api/workspace", json={"posts_per_week": bad}, headers=tenant.headers), 400,
                     "validation_error", "posts_per_week")


def test_an_empty_workspace_scores_only_what_it_can(client, make_tenant):
    tenant = make_tenant("Fresh")
    with db.connection_context():
        Client.delete().where(Client.workspace == tenant.workspace.id).execute()
    body = get_health(client, tenant)
    found = parts(body)
    assert found["cadence"]["score"] == 0
    assert found["cadence"]["explanation"].startswith("No clients yet")
    assert [found[name]["score"] for name in ("failed_publishes", "accounts", "engagement_trend")] == [None] * 3
    assert found["approval_backlog"]["score"] == 100
    assert body["score"] == 40  # (0*30 + 100*20) / 50


def test_health_needs_a_key_and_the_read_scope(client, make_tenant):
    assert_error(client.get("/api/workspace/health"), 401, "unauthorized")
    hooks_only = make_tenant("Hooks", scopes=["webhooks"])
    assert_error(client.get("/api/workspace/health", headers=hooks_only.headers), 403, "forbidden")
    assert client.get("/api/workspace", headers=make_tenant("Readers", scopes=["posts:read"]).headers
                      ).status_code == 200


def test_unconfirmed_publishes_need_attention_as_failed_ones_do(client, tenant):
    """A task that ended unconfirmed may be live and must be checked: it counts beside the failed ones."""
    with db.connection_context():
        build = Builder(tenant)
        build.account("main", token_expires_at=ago(-60))
        for days in (1, 2, 3):
            build.post(published_at=ago(days), status="published", task="published", task_at=ago(days))
        build.post(status="unconfirmed", task="unconfirmed", task_at=ago(2))
    part = parts(get_health(client, tenant))["failed_publishes"]
    assert part["numbers"] == {"failed": 0, "unconfirmed": 1, "finished": 4, "failure_rate_percent": 25.0,
                               "window_days": 30}
    assert part["score"] == 50
    assert "1 could not be confirmed" in part["explanation"]
