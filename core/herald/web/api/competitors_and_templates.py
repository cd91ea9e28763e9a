"""What the AI features stored, read back: ``GET /api/intelligence/competitors`` (and ``/<id>``) and
``GET /api/ai-design/templates`` (and ``/<id>``). Newest first, optionally one client's; another
workspace's result is 404. Same scope as the endpoints that create them (``intelligence``)."""

from flask import Blueprint, g, jsonify

from ...ai import competitor, design
from ...db.models import CompetitorAnalysis, DesignTemplate
from ...db.paging import exact_total
from . import client_arg, endpoint, id_query, int_query, paging

# The blueprint's name is the routes' OpenAPI tag, which clients see: it keeps its old name.
bp = Blueprint("ai_results", __name__, url_prefix="/api")

LIST_QUERY = (id_query("client_id", "only this client's"), int_query("limit", 50, 1, 200), paging.cursor_query(),
              paging.offset_query())


def _listed(model, serialize, name: str):
    """``{name: [...], "total": n, "next_cursor": …}``: the workspace's rows of ``model``, newest first,
    filtered and paged (``total``: an exact count, these rows are few)."""
    query = model.select().where(model.workspace == g.principal.workspace_id)
    client = client_arg()
    if client is not None:
        query = query.where(model.client == client.id)
    rows, next_cursor = paging.listed(query, model.id, limit=(50, 200), skip="offset")
    return jsonify({name: [serialize(row) for row in rows], "total": exact_total(query), "next_cursor": next_cursor})


@endpoint(bp, "/intelligence/competitors", ("GET",), summary="Stored competitor analyses, newest first",
          scope="intelligence", query=LIST_QUERY, responses={200: "analysis_list"})
def list_competitors():
    """The analyses ``analyze-competitor`` stored for the workspace."""
    return _listed(CompetitorAnalysis, competitor.serialize, "analyses")


@endpoint(bp, "/intelligence/competitors/<int:analysis_id>", ("GET",), summary="One stored competitor analysis",
          scope="intelligence", responses={200: "analysis"})
def get_competitor(analysis_id):
    """One analysis of the workspace."""
    return jsonify({"analysis": competitor.serialize(
        competitor.get_analysis(g.principal.workspace_id, analysis_id))})


@endpoint(bp, "/ai-design/templates", ("GET",), summary="Stored design templates, newest first",
          scope="intelligence", query=LIST_QUERY, responses={200: "template_list"})
def list_templates():
    """The templates ``generate-template`` stored for the workspace."""
    return _listed(DesignTemplate, design.serialize, "templates")


@endpoint(bp, "/ai-design/templates/<int:template_id>", ("GET",), summary="One stored design template",
          scope="intelligence", responses={200: "template"})
def get_template(template_id):
    """One template of the workspace."""
    return jsonify({"template": design.serialize(design.get_template(g.principal.workspace_id, template_id))})
