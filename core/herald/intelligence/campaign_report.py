"""A campaign's report: its posts, each with its current engagement, and their aggregate engagement."""

from __future__ import annotations

from ..db.models import Campaign, Post
from ..publishing.campaigns import serialize
from ..publishing.posts import serialize_post
from .history import INTERACTIONS, TOTALS, current_engagement, engagement_rate, round_rate


def detail(campaign: Campaign) -> dict:
    """The campaign with its posts (each with its current engagement) and their aggregate engagement."""
    posts = list(Post.select().where(Post.campaign == campaign.id).order_by(Post.id))
    engagement = current_engagement([post.id for post in posts])
    rows, rates = [], []
    totals = {name: 0 for name in TOTALS}
    for post in posts:
        data = serialize_post(post, shape="action")
        metrics = engagement.get(post.id, (None, 0))[0]
        data["engagement"] = metrics
        data["engagement_rate"] = round_rate(engagement_rate(metrics))
        if metrics:
            for name in TOTALS:
                totals[name] += metrics.get(name) or 0
            if data["engagement_rate"] is not None:
                rates.append(engagement_rate(metrics))
        rows.append(data)
    measured = sum(1 for post in posts if post.id in engagement)
    body = serialize(campaign, len(posts))
    body["posts"] = rows
    body["engagement"] = {
        "posts_with_engagement": measured,
        "totals": totals,
        "interactions": sum(totals[name] for name in INTERACTIONS),
        # Over the campaign as a whole: every interaction over every reached person.
        "engagement_rate": round_rate(engagement_rate(totals)),
        "average_post_engagement_rate": round_rate(sum(rates) / len(rates)) if rates else None,
    }
    return body
