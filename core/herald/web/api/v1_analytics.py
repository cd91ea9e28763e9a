"""Analytics of the ``/v1`` API: a post's engagement over time, and a client's totals, rates and best times."""

from flask import Blueprint, g, jsonify

from ...db.models import Workspace
from ...intelligence import analytics_summary, engagement_history
from ...publishing import posts
from ...publishing.publish import default_zone
from . import client_arg, endpoint, id_query, int_arg, int_query, runtime

bp = Blueprint("v1_analytics", __name__, url_prefix="/v1")


@endpoint(bp, "/posts/<post_id>/engagement", ("GET",), summary="A post's engagement over time, per platform and "
          "account", scope="posts:read", responses={200: "post_engagement"})
def post_engagement(post_id):
    """Every platform's (and account's, where known) snapshots of the post, oldest first, with the latest."""
    return jsonify(engagement_history.post_history(posts.get_post(g.principal.workspace_id, post_id)))


@endpoint(bp, "/analytics", ("GET",), summary="Engagement totals and rates per platform and account, and the best "
          "weekday and hour to post", scope="posts:read",
          query=(id_query("client_id", "the client (absent: the whole workspace)"),
                 int_query("period", 30, 1, 365, "days, today included, in the client's time zone (default 30)")),
          responses={200: "analytics"})
def analytics():
    """Totals of the posts that went out in the period, per platform and account, and when the client's
    posts did best (see :mod:`herald.intelligence.analytics_summary`)."""
    client = client_arg()
    period = int_arg("period", 30, 1, 365)
    zone = default_zone(Workspace.get_by_id(g.principal.workspace_id), client)
    return jsonify(analytics_summary.summary(g.principal.workspace_id, period,
                                             client_id=client.id if client is not None else None,
                                             timezone=zone, now=runtime().clock.now()))
