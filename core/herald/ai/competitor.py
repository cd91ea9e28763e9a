"""``analyze-competitor``: fetch a competitor's page through the SSRF guard, read its text, and have
the AI analyse it (themes, tone, hooks, posting ideas, strengths and weaknesses); stored as a
:class:`~herald.db.models.CompetitorAnalysis`."""

from __future__ import annotations

from .. import ai
from ..db.models import CompetitorAnalysis, isoformat
from ..errors import NotFound
from ..net import webpage_reader
from ..publishing.posts import get_client
from ..runtime import Runtime

FEATURE = "analyze_competitor"

SYSTEM = ("You are a social-media strategist. You analyse a competitor's web page for an agency and report "
          "what the competitor talks about, how it sounds, which hooks it uses, what it does well and badly, and "
          "what the agency's client could post in response. Base every point on the page text you are given; "
          "do not invent facts about the competitor.")

_STRINGS = {"type": "array", "items": {"type": "string", "minLength": 1, "maxLength": 400}}
SCHEMA = {"type": "object", "required": ["summary", "themes", "tone", "hooks", "posting_ideas", "strengths",
                                         "weaknesses"],
          "properties": {
              "summary": {"type": "string", "minLength": 1, "maxLength": 1500},
              "themes": {**_STRINGS, "minItems": 1, "maxItems": 10},
              "tone": {"type": "string", "minLength": 1, "maxLength": 400},
              "hooks": {**_STRINGS, "maxItems": 15},
              "posting_ideas": {**_STRINGS, "minItems": 3, "maxItems": 10},
              "strengths": {**_STRINGS, "minItems": 1, "maxItems": 10},
              "weaknesses": {**_STRINGS, "minItems": 1, "maxItems": 10}}}


def build_prompt(page: webpage_reader.Page, client) -> str:
    """The user prompt: the page's title, description, headings and text, and who it is for."""
    parts = [f"Competitor page: {page.url}", f"Title: {page.title or '(none)'}"]
    if page.description:
        parts.append(f"Description: {page.description}")
    if page.headings:
        parts.append("Headings:\n" + "\n".join(f"- {h}" for h in page.headings))
    parts.append(f"Page text:\n{page.text}")
    if client is not None:
        parts.append(f"The analysis is for our client {client.name}. Brand voice: "
                     f"{client.brand_voice.strip() or 'not described'}. Make the posting ideas fit this client.")
    return "\n\n".join(parts)


def serialize(row: CompetitorAnalysis) -> dict:
    """The JSON shape of a stored analysis."""
    return {"id": row.id, "url": row.url, "title": row.title, "client_id": row.client_id, "job_id": row.job_id,
            **row.analysis, "created_at": isoformat(row.created_at)}


def get_analysis(workspace_id: int, analysis_id: int) -> CompetitorAnalysis:
    """The workspace's analysis; 404 for an unknown id or another workspace's."""
    row = CompetitorAnalysis.get_or_none((CompetitorAnalysis.id == analysis_id)
                                         & (CompetitorAnalysis.workspace == workspace_id))
    if row is None:
        raise NotFound(f"No competitor analysis {analysis_id} in this workspace.")
    return row


def analyze(runtime: Runtime, *, workspace_id: int, job_id: str, url: str, client_id: int | None = None) -> dict:
    """Fetch, analyse and store (a background job's function); returns the job's result."""
    config = runtime.config
    client = get_client(workspace_id, client_id) if client_id is not None else None
    page = webpage_reader.fetch(url, allow_private=config.fetch_allow_private)
    generation = ai.generate(runtime, workspace_id, feature=FEATURE, prompt=build_prompt(page, client), system=SYSTEM,
                             schema=SCHEMA, client_id=client_id)
    analysis = {name: generation.data[name] for name in SCHEMA["properties"]}
    analysis["final_url"] = page.url
    row = CompetitorAnalysis.create(workspace=workspace_id, client=client_id, url=url, title=page.title,
                                    analysis=analysis, job=job_id, created_at=runtime.clock.now())
    return {"analysis": serialize(row)}
