"""Campaigns: a named push for a client (a launch, a season) with a goal, dates and a status, and
the posts that belong to it with their aggregate engagement."""

from __future__ import annotations

import datetime as dt
from typing import Any

from .. import ids
from ..db import post_counts as post_count_table
from ..db.models import Campaign, isoformat
from ..errors import NotFound, ValidationError
from ..runtime import Runtime
from .posts import get_client

STATUSES = ("planned", "active", "paused", "completed", "archived")


def get_campaign(workspace_id: int, campaign_id: Any, field: str | None = "campaign_id") -> Campaign:
    """The workspace's campaign; 404 naming ``field`` otherwise (another workspace's is not found)."""
    number = ids.parse_id(campaign_id)
    campaign = None
    if number is not None:
        campaign = Campaign.get_or_none((Campaign.id == number) & (Campaign.workspace == workspace_id))
    if campaign is None:
        raise NotFound(f"No campaign {campaign_id!r} in this workspace.", field=field)
    return campaign


def campaign_for_post(workspace_id: int, campaign_id: Any, client_id: int | None,
                      field: str = "campaign_id") -> Campaign | None:
    """The campaign a post may join: same workspace, and the post's client when both have one."""
    if campaign_id is None:
        return None
    campaign = get_campaign(workspace_id, campaign_id, field=field)
    if client_id is not None and campaign.client_id is not None and campaign.client_id != client_id:
        raise ValidationError(f"Campaign {campaign.id} is for client {campaign.client_id}, not client {client_id}.",
                              field=field)
    return campaign


def _date(value: str | None, field: str) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise ValidationError(f"{field} must be a date such as 2026-06-01.", field=field) from None


def _check_dates(starts_on: dt.date | None, ends_on: dt.date | None) -> None:
    if starts_on and ends_on and ends_on < starts_on:
        raise ValidationError("ends_on is before starts_on.", field="ends_on")


def create(runtime: Runtime, workspace_id: int, payload: dict) -> Campaign:
    """A new campaign for one of the workspace's clients (``payload`` validated by ``campaign_create``)."""
    client = get_client(workspace_id, int(payload["client_id"]))
    starts_on, ends_on = _date(payload.get("starts_on"), "starts_on"), _date(payload.get("ends_on"), "ends_on")
    _check_dates(starts_on, ends_on)
    now = runtime.clock.now()
    return Campaign.create(workspace=workspace_id, client=client, name=payload["name"].strip(),
                           goal=payload.get("goal", ""), starts_on=starts_on, ends_on=ends_on,
                           status=payload.get("status", "planned"), created_at=now, updated_at=now)


def update(runtime: Runtime, campaign: Campaign, payload: dict) -> Campaign:
    """Change a campaign's name, goal, dates or status (``payload`` validated by ``campaign_update``)."""
    if "name" in payload:
        campaign.name = payload["name"].strip()
    if "goal" in payload:
        campaign.goal = payload["goal"]
    if "starts_on" in payload:
        campaign.starts_on = _date(payload["starts_on"], "starts_on")
    if "ends_on" in payload:
        campaign.ends_on = _date(payload["ends_on"], "ends_on")
    if "status" in payload:
        campaign.status = payload["status"]
    _check_dates(campaign.starts_on, campaign.ends_on)
    campaign.updated_at = runtime.clock.now()
    campaign.save()
    return campaign


def serialize(campaign: Campaign, post_count: int | None = None) -> dict:
    """The JSON shape of a campaign."""
    data = {
        "id": campaign.id, "name": campaign.name, "client_id": campaign.client_id, "goal": campaign.goal,
        "starts_on": campaign.starts_on.isoformat() if campaign.starts_on else None,
        "ends_on": campaign.ends_on.isoformat() if campaign.ends_on else None,
        "status": campaign.status,
        "created_at": isoformat(campaign.created_at), "updated_at": isoformat(campaign.updated_at),
    }
    if post_count is not None:
        data["post_count"] = post_count
    return data


def post_counts(workspace_id: int, campaign_ids: list[int]) -> dict[int, int]:
    """How many posts each of the workspace's campaigns has (from the post counters, :mod:`herald.db.post_counts`)."""
    return post_count_table.by_campaign(workspace_id, campaign_ids)
