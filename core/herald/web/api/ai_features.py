"""The AI features, each started as a background job (202 with the job; poll ``GET /api/jobs/<id>``):
``POST /api/intelligence/populate-hooks``, ``POST /api/intelligence/analyze-competitor`` and
``POST /api/ai-design/generate-template``.

Each checks at once what would stop it (client, URL or logo; API key; the month's generations), so
the client learns about ``no_api_key`` or ``plan_limit`` without polling; the job checks again.
"""

from flask import Blueprint, g

from ... import ai
from ...ai import design
from ...net import webpage_reader
from ...publishing.posts import get_client
from . import endpoint, runtime
from .background_jobs import started_job

bp = Blueprint("ai_features", __name__, url_prefix="/api")



@endpoint(bp, "/intelligence/populate-hooks", ("POST",), summary="AI-generate 20+ hooks for a client (a job)",
          scope="intelligence", body="populate_hooks", responses={202: "job"}, errors=(402,))
def populate_openers(payload):
    """Start generating opening lines from the client's brand voice and best posts."""
    workspace_id = g.principal.workspace_id
    client = get_client(workspace_id, payload["client_id"])
    ai.check_ready(runtime(), workspace_id)
    return started_job("populate_hooks", client_id=client.id, count=payload.get("count", 20))


@endpoint(bp, "/intelligence/analyze-competitor", ("POST",), summary="Fetch and analyse a competitor's page (a job)",
          scope="intelligence", body="analyze_competitor", responses={202: "job"}, errors=(402,))
def analyze_competitor(payload):
    """Start fetching the page (through the SSRF guard) and analysing it."""
    workspace_id = g.principal.workspace_id
    client_id = payload.get("client_id")
    if client_id is not None:
        get_client(workspace_id, client_id)
    webpage_reader.check(payload["url"], runtime().config.fetch_allow_private)
    ai.check_ready(runtime(), workspace_id)
    return started_job("analyze_competitor", url=payload["url"], client_id=client_id)


@endpoint(bp, "/ai-design/generate-template", ("POST",), summary="A post template from an uploaded logo (a job)",
          scope="intelligence", body="generate_template", responses={202: "job"}, errors=(402,))
def generate_template(payload):
    """Start measuring the logo's colours and designing the template."""
    workspace_id = g.principal.workspace_id
    design.logo(workspace_id, payload["media_id"])
    client_id = payload.get("client_id")
    if client_id is not None:
        get_client(workspace_id, client_id)
    ai.check_ready(runtime(), workspace_id)
    return started_job("generate_template", media_id=payload["media_id"],
                    client_id=client_id)
