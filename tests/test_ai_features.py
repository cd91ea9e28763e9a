"""The AI features as background jobs, driven through the API against the fake Gemini:
populate-hooks, analyze-competitor and generate-template."""

from __future__ import annotations

import io
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import media_samples
import pytest
from PIL import Image

from ai_drive import record_generations, set_key
from conftest import assert_error
from drive import work
from herald.db.models import CompetitorAnalysis, DesignTemplate, EngagementSnapshot, GeneratedOpener, Post, db


def job_of(api, tenant, response):
    assert response.status_code == 202, response.get_json()
    job = response.get_json()["job"]
    assert job["status"] == "queued" and response.headers["Location"] == f"/api/jobs/{job['id']}"
    return job["id"]


def finished(api, tenant, redis_client, job_id):
    work(redis_client)
    return api.get(f"/api/jobs/{job_id}", headers=tenant.headers).get_json()["job"]


# -- populate-hooks -----------------------------------------------------------------------------------

def hooks(count, prefix="Hook"):
    styles = ["question", "bold_claim", "story", "how_to"]
    return {"hooks": [{"text": f"{prefix} number {n}?", "style": styles[n % 4]} for n in range(count)]}


def add_post(tenant, caption, likes, saves=0, reach=1000):
    with db.connection_context():
        post = Post.create(workspace=tenant.workspace, client=tenant.client, caption=caption)
        EngagementSnapshot.create(post=post, likes=likes, saves=saves, reach=reach)


def test_populate_hooks_stores_20_hooks_from_brand_voice_and_best_posts(api, tenant, gemini, redis_client):
    set_key(api, tenant)
    with db.connection_context():
        tenant.client.brand_voice = "Warm, witty, plain words."
        tenant.client.save()
    add_post(tenant, "Nobody tells you this about sourdough\nMore text", likes=500, saves=90)
    add_post(tenant, "Our opening hours changed", likes=3)
    add_post(tenant, "3 mistakes every home baker makes\n#bread", likes=200, saves=40)
    answer = hooks(25)
    answer["hooks"][24] = {"text": "  HOOK number 0 ", "style": "question"}  # a duplicate in other words
    gemini.reply_json(answer, usage=(900, 700))
    job_id = job_of(api, tenant, api.post("/api/intelligence/populate-hooks", json={"client_id": tenant.client.id},
                                          headers=tenant.headers))
    job = finished(api, tenant, redis_client, job_id)
    assert job["status"] == "succeeded", job["error"]
    result = job["result"]
    assert (result["requested"], result["created"], result["duplicates"]) == (20, 24, 1)
    assert result["hooks"][0]["text"] == "Hook number 0?" and result["hooks"][0]["style"] == "question"
    assert result["generation"]["input_tokens"] == 900
    prompt = gemini.requests[-1].prompt
    assert "Warm, witty, plain words." in prompt
    best = prompt.index("Nobody tells you this about sourdough")
    assert best < prompt.index("3 mistakes every home baker makes") < prompt.index("Our opening hours changed")
    assert "More text" not in prompt  # first lines only
    schema = gemini.requests[-1].body["generationConfig"]["responseJsonSchema"]
    assert schema["properties"]["hooks"]["minItems"] == 20
    with db.connection_context():
        assert GeneratedOpener.select().where(GeneratedOpener.client == tenant.client.id).count() == 24
    report = api.get(f"/api/intelligence/hooks?client_id={tenant.client.id}", headers=tenant.headers).get_json()
    assert len(report["generated"]) == 24 and {hook["job_id"] for hook in report["generated"]} == {job_id}
    assert {hook["text"] for hook in report["generated"]} == {hook["text"] for hook in result["hooks"]}


def test_a_second_run_skips_hooks_already_stored_and_shows_them_to_the_ai(api, tenant, gemini, redis_client):
    set_key(api, tenant)
    gemini.reply_json(hooks(22))
    first = job_of(api, tenant, api.post("/api/intelligence/populate-hooks", json={"client_id": tenant.client.id},
                                         headers=tenant.headers))
    finished(api, tenant, redis_client, first)
    gemini.reply_json({"hooks": hooks(10)["hooks"] + hooks(15, "Fresh")["hooks"]})
    second = job_of(api, tenant, api.post("/api/intelligence/populate-hooks",
                                          json={"client_id": tenant.client.id, "count": 20}, headers=tenant.headers))
    result = finished(api, tenant, redis_client, second)["result"]
    assert (result["created"], result["duplicates"]) == (15, 10)
    assert "Hook number 3?" in gemini.requests[-1].prompt  # existing hooks are listed to avoid
    with db.connection_context():
        assert GeneratedOpener.select().count() == 37


def test_populate_hooks_without_a_key_is_no_api_key_at_once(api, tenant, gemini):
    error = assert_error(api.post("/api/intelligence/populate-hooks", json={"client_id": tenant.client.id},
                                  headers=tenant.headers), 400, "no_api_key")
    assert "PUT /api/settings" in error["message"]
    assert gemini.requests == []


def test_populate_hooks_past_the_plan_limit_is_refused_at_once(api, tenant, gemini):
    set_key(api, tenant)
    record_generations(tenant.workspace.id, 50)
    assert_error(api.post("/api/intelligence/populate-hooks", json={"client_id": tenant.client.id},
                          headers=tenant.headers), 402, "plan_limit")


def test_the_job_checks_the_limit_again(api, tenant, gemini, redis_client):
    set_key(api, tenant)
    job_id = job_of(api, tenant, api.post("/api/intelligence/populate-hooks", json={"client_id": tenant.client.id},
                                          headers=tenant.headers))
    record_generations(tenant.workspace.id, 50)  # used up while the job waited
    job = finished(api, tenant, redis_client, job_id)
    assert job["status"] == "failed" and job["error"]["code"] == "plan_limit" and gemini.generations == []


def test_a_blocked_answer_fails_the_job_and_stores_nothing(api, tenant, gemini, redis_client):
    set_key(api, tenant)
    gemini.block_prompt()
    job_id = job_of(api, tenant, api.post("/api/intelligence/populate-hooks", json={"client_id": tenant.client.id},
                                          headers=tenant.headers))
    job = finished(api, tenant, redis_client, job_id)
    assert job["status"] == "failed" and job["error"]["code"] == "ai_blocked"
    with db.connection_context():
        assert GeneratedOpener.select().count() == 0


def test_populate_hooks_validates_and_isolates(api, tenant, make_tenant, gemini):
    set_key(api, tenant)
    other = make_tenant("Other")
    assert_error(api.post("/api/intelligence/populate-hooks", json={"client_id": tenant.client.id, "count": 19},
                          headers=tenant.headers), 400, "validation_error", "count")
    assert_error(api.post("/api/intelligence/populate-hooks", json={"client_id": other.client.id},
                          headers=tenant.headers), 404, "not_found", "client_id")
    reader = make_tenant("Readers", scopes=["posts:read"])
    assert_error(api.post("/api/intelligence/populate-hooks", json={"client_id": reader.client.id},
                          headers=reader.headers), 403, "forbidden")


# -- analyze-competitor -------------------------------------------------------------------------------

PAGE = """<!doctype html><html><head><title>Crust &amp; Co — Bakery</title>
<meta name="description" content="Artisan bread in Leeds."><script>var secret = "tracking-code";</script>
<style>body { color: red }</style></head><body><nav>Home | Shop | Login</nav>
<h1>Bread worth waking up for</h1><p>We bake every loaf by hand before sunrise, with flour milled in Yorkshire.</p>
<h2>Weekend workshops</h2><p>Join our sourdough workshop: four hours, one starter to take home, and all the
coffee you can drink. Families welcome; kids under twelve go free. Book online or ask in store.</p>
<footer>© Crust &amp; Co</footer></body></html>"""

ANALYSIS = {"summary": "A bakery selling craft and workshops.", "themes": ["craft", "workshops"],
            "tone": "warm", "hooks": ["Bread worth waking up for"], "posting_ideas": ["a", "b", "c"],
            "strengths": ["clear offer"], "weaknesses": ["no prices"]}


@pytest.fixture
def site():
    pages = {"/": (200, "text/html; charset=utf-8", PAGE.encode()), "/old": (301, "/", b""),
             "/thin": (200, "text/html", b"<html><body><div id=app></div></body></html>"),
             "/logo.png": (200, "image/png", b"\x89PNG....")}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's naming)
            status, kind, body = pages.get(self.path, (404, "text/plain", b"missing"))
            self.send_response(status)
            if status == 301:
                self.send_header("Location", kind)
            else:
                self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_competitor_page_is_fetched_read_analysed_and_stored(api, tenant, gemini, redis_client, site):
    set_key(api, tenant)
    gemini.reply_json(ANALYSIS)
    job_id = job_of(api, tenant, api.post("/api/intelligence/analyze-competitor",
                                          json={"url": f"{site}/old", "client_id": tenant.client.id},
                                          headers=tenant.headers))
    job = finished(api, tenant, redis_client, job_id)
    assert job["status"] == "succeeded", job["error"]
    analysis = job["result"]["analysis"]
    assert analysis["title"] == "Crust & Co — Bakery" and analysis["final_url"] == f"{site}/"
    assert analysis["themes"] == ["craft", "workshops"] and analysis["client_id"] == tenant.client.id
    prompt = gemini.requests[-1].prompt
    assert "We bake every loaf by hand before sunrise" in prompt and "Description: Artisan bread in Leeds." in prompt
    assert "- Weekend workshops" in prompt and tenant.client.name in prompt
    assert "tracking-code" not in prompt and "color: red" not in prompt and "Home | Shop" not in prompt
    with db.connection_context():
        row = CompetitorAnalysis.get_by_id(analysis["id"])
    assert row.url == f"{site}/old" and row.analysis["weaknesses"] == ["no prices"] and row.job_id == job_id


@pytest.mark.parametrize(("path", "message"), [("/thin", "too little readable text"), ("/missing", "HTTP 404"),
                                               ("/logo.png", "not a web page")])
def test_unreadable_pages_fail_the_job_without_a_generation(api, tenant, gemini, redis_client, site, path, message):
    set_key(api, tenant)
    job_id = job_of(api, tenant, api.post("/api/intelligence/analyze-competitor", json={"url": site + path},
                                          headers=tenant.headers))
    job = finished(api, tenant, redis_client, job_id)
    assert job["status"] == "failed" and job["error"]["code"] == "fetch_failed" and message in job["error"]["message"]
    assert gemini.generations == []


def test_the_ssrf_guard_refuses_metadata_and_by_default_loopback(api, build_app, tenant, gemini, site):
    set_key(api, tenant)
    error = assert_error(api.post("/api/intelligence/analyze-competitor", json={"url": "http://169.254.169.254/latest"},
                                  headers=tenant.headers), 400, "validation_error", "url")
    assert "metadata" in error["message"]
    strict = build_app(gemini_base_url=gemini.base_url).test_client()  # fetch_allow_private off
    error = assert_error(strict.post("/api/intelligence/analyze-competitor", json={"url": site},
                                     headers=tenant.headers), 400, "validation_error", "url")
    assert "loopback or private" in error["message"]
    assert_error(api.post("/api/intelligence/analyze-competitor", json={"url": "ftp://example.com/x"},
                          headers=tenant.headers), 400, "validation_error", "url")


def test_analyze_competitor_needs_a_key_and_the_callers_client(api, tenant, make_tenant, site):
    assert_error(api.post("/api/intelligence/analyze-competitor", json={"url": site}, headers=tenant.headers),
                 400, "no_api_key")
    set_key(api, tenant)
    other = make_tenant("Other")
    assert_error(api.post("/api/intelligence/analyze-competitor", json={"url": site, "client_id": other.client.id},
                          headers=tenant.headers), 404, "not_found", "client_id")


# -- generate-template --------------------------------------------------------------------------------

RED, NAVY = (230, 57, 70), (29, 53, 87)
TEMPLATE = {"name": "Bold bakery", "rationale": "Red leads, navy grounds it.",
            "typography": {"heading": {"family": "Poppins", "weight": 700, "fallback": "sans-serif"},
                           "body": {"family": "Inter", "weight": 400, "fallback": "sans-serif"}, "scale": 1.25},
            "layout": {"format": "square", "logo_position": "top-left", "text_alignment": "left",
                       "margin_percent": 6, "elements": [{"type": "logo", "area": "top", "color_role": "primary"},
                                                         {"type": "headline", "area": "middle",
                                                          "color_role": "text"}]}}


def logo_png() -> bytes:
    """60 % red, 30 % navy, 10 % transparent background."""
    image = Image.new("RGBA", (100, 100), (0, 0, 0, 0))
    image.paste(RED + (255,), (0, 0, 100, 60))
    image.paste(NAVY + (255,), (0, 60, 100, 90))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def upload(api, tenant, data: bytes, name: str) -> int:
    response = api.post("/api/media", data={"file": (io.BytesIO(data), name)}, headers=tenant.headers,
                        content_type="multipart/form-data")
    assert response.status_code == 201, response.get_json()
    return response.get_json()["media"]["id"]


def test_template_palette_is_measured_from_the_logo_and_layout_comes_from_the_ai(api, tenant, gemini, redis_client):
    set_key(api, tenant)
    media_id = upload(api, tenant, logo_png(), "logo.png")
    gemini.reply_json(TEMPLATE)
    job_id = job_of(api, tenant, api.post("/api/ai-design/generate-template", json={"media_id": media_id},
                                          headers=tenant.headers))
    job = finished(api, tenant, redis_client, job_id)
    assert job["status"] == "succeeded", job["error"]
    template = job["result"]["template"]
    roles = {entry["role"]: entry for entry in template["palette"]}
    assert roles["primary"]["hex"] == "#E63946" and roles["primary"]["share"] == pytest.approx(0.667, abs=0.01)
    assert roles["secondary"]["hex"] == "#1D3557" and roles["secondary"]["share"] == pytest.approx(0.333, abs=0.01)
    assert roles["background"] == {"role": "background", "hex": "#FFFFFF", "share": None, "source": "derived",
                                   "contrast_on_background": 1.0}
    assert roles["text"]["contrast_on_background"] >= 4.5
    assert [c["hex"] for c in template["colors"]] == ["#E63946", "#1D3557"]
    assert template["typography"]["heading"]["family"] == "Poppins" and template["layout"]["format"] == "square"
    assert "#E63946" in gemini.requests[-1].prompt and "#1D3557" in gemini.requests[-1].prompt
    with db.connection_context():
        stored = DesignTemplate.get_by_id(template["id"])
    assert stored.media_id == media_id and stored.template["name"] == "Bold bakery"


def test_template_needs_an_image_of_the_workspace(api, tenant, make_tenant, gemini):
    set_key(api, tenant)
    video = upload(api, tenant, media_samples.mp4(), "clip.mp4")
    assert_error(api.post("/api/ai-design/generate-template", json={"media_id": video}, headers=tenant.headers),
                 400, "validation_error", "media_id")
    other = make_tenant("Other")
    theirs = upload(api, other, logo_png(), "logo.png")
    assert_error(api.post("/api/ai-design/generate-template", json={"media_id": theirs}, headers=tenant.headers),
                 404, "not_found", "media_id")
