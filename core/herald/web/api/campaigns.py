"""``/api/campaigns``: campaigns of the workspace's clients, with their posts and engagement."""

from flask import Blueprint, g, jsonify, request

from ...db.models import Campaign
from ...db.paging import exact_total
from ...errors import ValidationError
from ...intelligence import campaign_report
from ...publishing import campaigns
from . import client_arg, endpoint, id_query, int_query, paging, runtime

bp = Blueprint("campaigns", __name__, url_prefix="/api/campaigns")


@endpoint(bp, "", ("POST",), summary="Create a campaign", scope="posts:write", body="campaign_create",
          responses={201: "campaign_answer"})
def create_campaign(payload):
    """A campaign for one of the workspace's clients."""
    campaign = campaigns.create(runtime(), g.principal.workspace_id, payload)
    return jsonify({"campaign": campaigns.serialize(campaign, 0)}), 201


@endpoint(bp, "", ("GET",), summary="List campaigns", scope="posts:read",
          query=(id_query("client_id", "only this client's"),
                 ("status", {"type": "string", "enum": list(campaigns.STATUSES)}, "only this status"),
                 int_query("limit", 50, 1, 200), paging.cursor_query(), paging.offset_query()),
          responses={200: "campaign_list"})
def list_campaigns():
    """The workspace's campaigns, newest first, each with its number of posts."""
    query = Campaign.select().where(Campaign.workspace == g.principal.workspace_id)
    client = client_arg()
    if client is not None:
        query = query.where(Campaign.client == client.id)
    status = request.args.get("status")
    if status:
        if status not in campaigns.STATUSES:
            raise ValidationError(f"status must be one of {', '.join(campaigns.STATUSES)}.", field="status")
        query = query.where(Campaign.status == status)
    rows, next_cursor = paging.listed(query, Campaign.id, limit=(50, 200), skip="offset")
    counts = campaigns.post_counts(g.principal.workspace_id, [row.id for row in rows])
    return jsonify({"campaigns": [campaigns.serialize(row, counts.get(row.id, 0)) for row in rows],
                    "total": exact_total(query), "next_cursor": next_cursor})


@endpoint(bp, "/<int:campaign_id>", ("GET",), summary="A campaign with its posts and their aggregate engagement",
          scope="posts:read", responses={200: "campaign_detail"})
def get_campaign(campaign_id):
    """The campaign, its posts (each with its current engagement) and the totals."""
    return jsonify({"campaign": campaign_report.detail(campaigns.get_campaign(g.principal.workspace_id, campaign_id,
                                                                          field=None))})


@endpoint(bp, "/<int:campaign_id>", ("PATCH",), summary="Change a campaign's name, goal, dates or status",
          scope="posts:write", body="campaign_update", responses={200: "campaign_answer"})
def update_campaign(campaign_id, payload):
    """Change what is sent; the rest stays."""
    campaign = campaigns.get_campaign(g.principal.workspace_id, campaign_id, field=None)
    return jsonify({"campaign": campaigns.serialize(campaigns.update(runtime(), campaign, payload))})
