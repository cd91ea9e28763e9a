"""Building a client's post history for the intelligence tests: posts at known times, engagement
pushed through the API."""

from __future__ import annotations

import datetime as dt

from herald.db.models import Post, db


def make_post(tenant, caption: str, when: dt.datetime, *, post_type: str = "post", topic: str = "",
              platforms=("instagram",), client=None, status: str = "published") -> int:
    """A post of the tenant's client published at ``when`` (naive UTC); returns its id."""
    with db.connection_context():
        post = Post.create(workspace=tenant.workspace.id, client=(client or tenant.client).id, caption=caption,
                           topic=topic, post_type=post_type, platforms=list(platforms), status=status,
                           published_at=when, created_at=when, updated_at=when)
    return post.id


def push(client, tenant, items: list[dict]) -> dict:
    """Push engagement items through the batch endpoint; every item must be recorded."""
    response = client.post("/api/intelligence/engagement/batch", json={"items": items}, headers=tenant.headers)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["failed"] == 0, body
    return body


def rate_item(post_id: int, rate: float, reach: int = 1000) -> dict:
    """An engagement item whose rate is exactly ``rate`` (all of it as likes)."""
    return {"post_id": post_id, "likes": round(rate * reach), "comments": 0, "saves": 0, "shares": 0,
            "reach": reach}
