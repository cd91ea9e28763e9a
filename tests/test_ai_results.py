"""Reading back what the AI features stored: competitor analyses and design templates, made through
the real jobs against the Gemini fake; newest first, per client, paged, and workspace-isolated."""

from __future__ import annotations

from test_ai_features import ANALYSIS, TEMPLATE, finished, job_of, logo_png, site, upload  # noqa: F401 (site: fixture)

from ai_drive import set_key
from conftest import assert_error


def analyse(api, tenant, gemini, redis_client, url, client_id=None):
    gemini.reply_json({**ANALYSIS, "summary": f"About {url}"})
    body = {"url": url, **({"client_id": client_id} if client_id else {})}
    job = finished(api, tenant, redis_client, job_of(api, tenant, api.post(
        "/api/intelligence/analyze-competitor", json=body, headers=tenant.headers)))
    assert job["status"] == "succeeded", job["error"]
    return job["result"]["analysis"]


def design(api, tenant, gemini, redis_client, name, client_id=None):
    media_id = upload(api, tenant, logo_png(), "logo.png")
    gemini.reply_json({**TEMPLATE, "name": name})
    body = {"media_id": media_id, **({"client_id": client_id} if client_id else {})}
    job = finished(api, tenant, redis_client, job_of(api, tenant, api.post(
        "/api/ai-design/generate-template", json=body, headers=tenant.headers)))
    assert job["status"] == "succeeded", job["error"]
    return job["result"]["template"]


def test_competitor_analyses_are_listed_newest_first_and_read_one_by_one(api, tenant, gemini, redis_client,
                                                                         site):  # noqa: F811
    set_key(api, tenant)
    first = analyse(api, tenant, gemini, redis_client, f"{site}/")
    second = analyse(api, tenant, gemini, redis_client, f"{site}/old", client_id=tenant.client.id)
    listed = api.get("/api/intelligence/competitors", headers=tenant.headers).get_json()
    assert listed["total"] == 2 and [a["id"] for a in listed["analyses"]] == [second["id"], first["id"]]
    assert listed["analyses"][0] == second  # the same shape as the job's result
    assert listed["analyses"][1]["summary"] == f"About {site}/" and listed["analyses"][1]["client_id"] is None
    mine = api.get(f"/api/intelligence/competitors?client_id={tenant.client.id}", headers=tenant.headers).get_json()
    assert [a["id"] for a in mine["analyses"]] == [second["id"]] and mine["total"] == 1
    paged = api.get("/api/intelligence/competitors?limit=1&offset=1", headers=tenant.headers).get_json()
    assert [a["id"] for a in paged["analyses"]] == [first["id"]] and paged["total"] == 2
    one = api.get(f"/api/intelligence/competitors/{second['id']}", headers=tenant.headers)
    assert one.status_code == 200 and one.get_json()["analysis"] == second
    assert one.get_json()["analysis"]["themes"] == ["craft", "workshops"]


def test_templates_are_listed_newest_first_with_their_client(api, tenant, gemini, redis_client):
    set_key(api, tenant)
    plain = design(api, tenant, gemini, redis_client, "Plain")
    branded = design(api, tenant, gemini, redis_client, "Branded", client_id=tenant.client.id)
    assert (plain["client_id"], branded["client_id"]) == (None, tenant.client.id)
    listed = api.get("/api/ai-design/templates", headers=tenant.headers).get_json()
    assert [t["name"] for t in listed["templates"]] == ["Branded", "Plain"] and listed["total"] == 2
    assert listed["templates"][0] == branded
    mine = api.get(f"/api/ai-design/templates?client_id={tenant.client.id}", headers=tenant.headers).get_json()
    assert [t["id"] for t in mine["templates"]] == [branded["id"]]
    one = api.get(f"/api/ai-design/templates/{plain['id']}", headers=tenant.headers).get_json()["template"]
    assert one == plain and one["palette"][0]["hex"] == "#E63946"


def test_results_are_workspace_isolated_and_need_the_intelligence_scope(api, tenant, make_tenant, gemini,
                                                                       redis_client, site):  # noqa: F811
    set_key(api, tenant)
    analysis = analyse(api, tenant, gemini, redis_client, f"{site}/")
    template = design(api, tenant, gemini, redis_client, "Ours")
    other = make_tenant("Other")
    assert_error(api.get(f"/api/intelligence/competitors/{analysis['id']}", headers=other.headers), 404, "not_found")
    assert_error(api.get(f"/api/ai-design/templates/{template['id']}", headers=other.headers), 404, "not_found")
    assert api.get("/api/intelligence/competitors", headers=other.headers).get_json() == {"analyses": [], "total": 0,
                                                                                   "next_cursor": None}
    assert api.get("/api/ai-design/templates", headers=other.headers).get_json() == {"templates": [], "total": 0,
                                                                                 "next_cursor": None}
    assert_error(api.get(f"/api/intelligence/competitors?client_id={tenant.client.id}", headers=other.headers),
                 404, "not_found", "client_id")
    assert_error(api.get("/api/ai-design/templates?client_id=x", headers=tenant.headers), 400, "validation_error",
                 "client_id")
    assert_error(api.get("/api/intelligence/competitors?limit=0", headers=tenant.headers), 400, "validation_error",
                 "limit")
    assert_error(api.get("/api/intelligence/competitors/999", headers=tenant.headers), 404, "not_found")
    reader = make_tenant("Readers", scopes=["posts:read"])
    assert_error(api.get("/api/intelligence/competitors", headers=reader.headers), 403, "forbidden")
    assert_error(api.get("/api/ai-design/templates", headers=reader.headers), 403, "forbidden")
