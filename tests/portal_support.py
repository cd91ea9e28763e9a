"""What the client portal tests share: a client's posts in every state the page shows, made through
the real API and workers, and portal links made through ``POST /api/client-portal/create-token``."""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import re

import media_samples

from drive import work
from herald.db.models import EngagementSnapshot, Event, Post, db, utcnow

PUBLIC_URL = "https://herald.test"


def connect(client, tenant, token: str = "tok_live_0001") -> str:
    """Connect a scripted-platform account; its id."""
    response = client.post("/v1/accounts", json={"platform": "scripted", "access_token": token},
                           headers=tenant.headers)
    assert response.status_code in (200, 201), response.get_json()
    return response.get_json()["id"]


def upload_png(client, tenant) -> str:
    """Upload a 320 × 200 PNG, so the page has a real picture to preview; its media id."""
    response = client.post("/api/media", headers=tenant.headers, content_type="multipart/form-data",
                           data={"file": (io.BytesIO(media_samples.png(320, 200)), "spring.png", "image/png")})
    assert response.status_code == 201, response.get_json()
    return response.get_json()["media"]["id"]


def publish(client, tenant, **body) -> dict:
    """``POST /v1/publish``; the post (201 asserted)."""
    response = client.post("/v1/publish", json=body, headers=tenant.headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def later(days: int) -> str:
    """An ISO time ``days`` ahead, at 09:00 UTC."""
    return (utcnow() + dt.timedelta(days=days)).replace(hour=9, minute=0, second=0).isoformat() + "Z"


def number(post_id: str) -> int:
    """``post_12`` as 12."""
    return int(post_id.removeprefix("post_"))


@dataclasses.dataclass
class Seeded:
    """Post numbers by what the page should show."""

    awaiting: int
    second_awaiting: int
    upcoming: int
    published: int
    other_client: int


def seed(client, tenant, redis_client, other_client_id: int) -> Seeded:
    """Posts for ``tenant.client``: two awaiting approval (one with a picture), one scheduled, one published
    with engagement history over the last days; and one awaiting approval for another client."""
    account = connect(client, tenant)
    assert client.patch("/api/workspace", json={"require_approval": True},
                        headers=tenant.headers).status_code == 200
    media = upload_png(client, tenant)
    cid = tenant.client.id
    awaiting = publish(client, tenant, accounts=[account], client_id=cid, media=[media], schedule=later(3),
                       content="Spring collection teaser: three colours, one mood. #spring")
    second = publish(client, tenant, accounts=[account], client_id=cid, schedule=later(4),
                     content="Behind the scenes at the studio")
    upcoming = publish(client, tenant, accounts=[account], client_id=cid, schedule=later(2),
                       content="Meet the team: Ana, our head of design")
    published = publish(client, tenant, accounts=[account], client_id=cid, content="We are open on Sundays now!")
    other = publish(client, tenant, accounts=[account], client_id=other_client_id, content="Another client's post")
    for post in (upcoming, published):
        response = client.post(f"/v1/posts/{post['id']}/approve", json={}, headers=tenant.headers)
        assert response.status_code == 200, response.get_json()
    work(redis_client)
    now = utcnow()
    with db.connection_context():
        assert Post.get_by_id(number(published["id"])).status == "published"
        # Cumulative counts as a platform reports them: 10, then 25 two days later, then 40 today.
        for days_ago, likes in ((5, 10), (3, 25), (0, 40)):
            EngagementSnapshot.create(post=number(published["id"]), likes=likes, comments=2, shares=1, saves=0,
                                      reach=likes * 20, recorded_at=now - dt.timedelta(days=days_ago))
    return Seeded(number(awaiting["id"]), number(second["id"]), number(upcoming["id"]), number(published["id"]),
                  number(other["id"]))


def make_link(client, tenant, permissions: str, **extra) -> tuple[dict, str]:
    """Create a portal link for ``tenant.client``; the response body and the path of the page."""
    body = {"client_id": tenant.client.id, "permissions": permissions, **extra}
    response = client.post("/api/client-portal/create-token", json=body, headers=tenant.headers)
    assert response.status_code == 201, response.get_json()
    data = response.get_json()
    return data, "/portal/" + data["url"].rsplit("/portal/", 1)[1]


# -- reading the page --------------------------------------------------------------------------

def events_of(kind: str) -> list[Event]:
    with db.connection_context():
        return list(Event.select().where(Event.type == kind).order_by(Event.id))


def group_of(html: str, name: str) -> str:
    """The HTML of the page's section ``name`` (awaiting, upcoming, published, problems, rejected)."""
    return html.split(f'id="{name}"', 1)[1].split("</section>", 1)[0]


def post_ids(html: str) -> list[int]:
    return [int(found) for found in re.findall(r'data-post-id="(\d+)"', html)]


def card_of(html: str, post_id: int) -> str:
    """The HTML of one post's card."""
    return html.split(f'<article class="post" id="post-{post_id}"', 1)[1].split("</article>", 1)[0]
