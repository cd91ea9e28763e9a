"""Scoring: caption features, the heuristic and learned scorers, POST /api/intelligence/score,
scores stored on posts, and a third-party scorer plugged in through register_scorers."""

from __future__ import annotations

import datetime as dt
import re
import types
from pathlib import Path

import pytest
from intel_data import make_post, push, rate_item

import herald.db.models
from conftest import assert_error, start_app
from herald import Score, hookimpl
from herald.auth import create_api_key
from herald.captions import features, heuristic
from herald.db.models import Post, PostVersion, Workspace, db
from herald.intelligence import learned
from herald.plugins import get_plugin_manager

GOOD_IG = ("Why does sourdough need 12 hours?\n\n"
           "Slow fermentation builds flavour and makes the bread easier to digest. We start every loaf the "
           "evening before.\n\n"
           "Save this for your next bake and tell us your favourite loaf!\n\n"
           "#sourdough #bakery #bread #realbread")


def score(client, tenant, **body):
    return client.post("/api/intelligence/score", json=body, headers=tenant.headers)


# -- features -------------------------------------------------------------------------------------

@pytest.mark.parametrize("line, style", [
    ("Why does sourdough need 12 hours?", "question"),
    ("How to shape a baguette in 5 steps", "how_to"),
    ("7 breads every baker should know", "number"),
    ("Never buy supermarket bread again", "bold_claim"),
    ("Fresh bread this morning.", "statement"),
    ("", "none"),
])
def test_hook_styles(line, style):
    assert features.opener_style(line) == style


def test_features_of_a_caption():
    f = features.extract(GOOD_IG)
    assert f.first_line == "Why does sourdough need 12 hours?"
    assert f.hashtags == ("sourdough", "bakery", "bread", "realbread")
    assert f.cta == "save this" and f.has_question and f.line_breaks == 6 and f.paragraphs == 4
    assert f.length_bucket == "medium" and f.hashtag_bucket == "4-10" and f.second_person


# -- the heuristic scorer ---------------------------------------------------------------------------

def parts(score_: Score) -> dict[str, float]:
    return {part["part"]: part["points"] for part in score_.details["parts"]}


def test_heuristic_scores_a_complete_instagram_caption_near_the_top():
    result = heuristic.evaluate(features.extract(GOOD_IG), ("instagram",))
    assert parts(result) == {"hook": 20, "length": 20, "call_to_action": 15, "hashtags": 15, "question": 10,
                             "line_breaks": 10, "readability": 10}
    assert result.value == 100 and result.confidence == 1.0
    assert any("question hook" in reason for reason in result.reasons)


def test_heuristic_explains_what_a_bare_caption_lacks():
    result = heuristic.evaluate(features.extract("bread"), ("instagram",))
    got = parts(result)
    assert got["call_to_action"] == 0 and got["question"] == 0 and got["hashtags"] == 0 and got["length"] == 0
    assert got["hook"] == 9  # very short first line (5) + a plain statement (4)
    assert result.value == 29
    text = " ".join(result.reasons)
    assert "No call to action" in text and "No question" in text and "100-600 sweet spot for instagram" in text


def test_length_and_hashtag_advice_depend_on_the_platform():
    caption = "Our new rye loaf is out today, baked with flour from the mill down the road. #rye #bakery #local #bread"
    f = features.extract(caption)
    ig, fb = heuristic.evaluate(f, ("instagram",)), heuristic.evaluate(f, ("facebook",))
    assert parts(ig)["length"] == 20 and parts(fb)["length"] == 20  # 103 characters suits both
    assert parts(ig)["hashtags"] == 15 and parts(fb)["hashtags"] == 6  # 4 tags: fine on Instagram, many on Facebook
    both = heuristic.evaluate(f, ("instagram", "facebook"))
    assert parts(both)["hashtags"] == 10.5


# -- the learned scorer ---------------------------------------------------------------------------

def history_of_hooks(client, tenant, questions: int, statements: int, start=dt.datetime(2026, 3, 2, 9)):
    """Question hooks at 10 % engagement, statement hooks at 2 %; otherwise alike captions."""
    items = []
    for n in range(questions):
        post_id = make_post(tenant, f"Do you know our loaf number {n}?\nFresh every day.", start + dt.timedelta(days=n))
        items.append(rate_item(post_id, 0.10))
    for n in range(statements):
        post_id = make_post(tenant, f"Our loaf number {n} is here.\nFresh every day.",
                            start + dt.timedelta(days=questions + n))
        items.append(rate_item(post_id, 0.02))
    push(client, tenant, items)


def test_learned_scorer_uses_the_clients_history(client, tenant):
    history_of_hooks(client, tenant, questions=3, statements=3)
    body = score(client, tenant, caption="Do you know our new rye?\nFresh every day.", client_id=tenant.client.id,
                 platforms="instagram").get_json()
    part = next(s for s in body["strategies"] if s["name"] == "learned")
    details = part["details"]
    assert details["history_posts"] == 6 and details["baseline_engagement_rate"] == 0.06
    hook = next(row for row in details["signals"] if row.get("dimension") == "hook_style")
    assert (hook["value"], hook["sample_size"], hook["average_engagement_rate"], hook["lift"]) == \
        ("question", 3, 0.1, 1.667)
    assert part["confidence"] == 0.2  # 6 posts of the 30 that give full weight
    assert part["value"] > 70
    assert "Learned from 6 past posts" in part["reasons"][0]
    statement = score(client, tenant, caption="Our new rye is here.\nFresh every day.",
                      client_id=tenant.client.id).get_json()
    assert next(s for s in statement["strategies"] if s["name"] == "learned")["value"] < 30
    # The combined score is the confidence-weighted mean: heuristic (weight 1) and learned (weight 0.2).
    heuristic_part = next(s for s in body["strategies"] if s["name"] == "heuristic")
    assert body["score"] == round((heuristic_part["value"] * 1.0 + part["value"] * 0.2) / 1.2, 1)
    assert heuristic_part["weight"] == round(1 / 1.2, 3) and part["weight"] == round(0.2 / 1.2, 3)


def test_learned_scorer_with_little_history_says_so_and_weighs_little(client, tenant):
    history_of_hooks(client, tenant, questions=2, statements=1)
    body = score(client, tenant, caption="Do you know our rye?", client_id=tenant.client.id).get_json()
    part = next(s for s in body["strategies"] if s["name"] == "learned")
    assert part["confidence"] == 0.06 and part["details"]["history_posts"] == 3
    assert "fewer than 5, so this score gets little weight" in part["reasons"][0]


def test_learned_scorer_without_history_or_client_has_no_weight(client, tenant):
    body = score(client, tenant, caption=GOOD_IG, platforms=["instagram"]).get_json()
    part = next(s for s in body["strategies"] if s["name"] == "learned")
    assert part["confidence"] == 0 and part["weight"] == 0 and "No client_id" in part["reasons"][0]
    assert body["score"] == 100  # the heuristic alone
    with_client = score(client, tenant, caption=GOOD_IG, client_id=tenant.client.id).get_json()
    part = next(s for s in with_client["strategies"] if s["name"] == "learned")
    assert part["confidence"] == 0 and "No engagement history" in part["reasons"][0]


def test_value_for_lift():
    assert learned.value_for_lift(1.0) == 50
    assert learned.value_for_lift(2.0) == 88.1 and learned.value_for_lift(0.5) == 11.9
    assert learned.history_confidence(3) == 0.06 and learned.history_confidence(45) == 1.0


# -- the endpoint -----------------------------------------------------------------------------------

def test_scoring_a_post_stores_the_score_and_leaves_its_own_engagement_out(client, tenant):
    history_of_hooks(client, tenant, questions=3, statements=3)
    created = client.post("/api/webhooks", headers=tenant.headers, json={
        "action": "create_post", "client_id": tenant.client.id, "caption": "Do you know our rye?\nFresh every day.",
        "platforms": "instagram"}).get_json()["post"]
    assert created["score"] == heuristic.quick_value("Do you know our rye?\nFresh every day.", ["instagram"])
    push(client, tenant, [rate_item(created["id"], 0.9)])  # its own engagement must not feed its score
    body = score(client, tenant, post_id=f"post_{created['id']}").get_json()
    assert body["stored"] is True and body["post_id"] == created["id"]
    learned_part = next(s for s in body["strategies"] if s["name"] == "learned")
    assert learned_part["details"]["history_posts"] == 6
    listed = client.post("/api/webhooks", headers=tenant.headers,
                         json={"action": "list_posts", "client_id": tenant.client.id}).get_json()
    stored = next(post for post in listed["posts"] if post["id"] == created["id"])
    assert stored["score"] == body["score"] != created["score"]
    with db.connection_context():
        last = PostVersion.select().where(PostVersion.post == created["id"]).order_by(PostVersion.number.desc()).get()
    assert last.changes["score"] == {"before": created["score"], "after": body["score"]}


def test_score_request_errors(client, tenant, make_tenant):
    assert_error(score(client, tenant), 400, "validation_error", "caption")
    assert_error(score(client, tenant, caption="x", post_id=1), 400, "validation_error", "caption")
    assert_error(score(client, tenant, caption="x", scorers=["nope"]), 400, "validation_error", "scorers.0")
    assert_error(score(client, tenant, caption=""), 400, "validation_error", "caption")
    other = make_tenant("Other agency")
    other_post = make_post(other, "Theirs", dt.datetime(2026, 1, 1))
    assert_error(score(client, tenant, post_id=other_post), 404, "not_found", "post_id")
    assert_error(score(client, tenant, caption="x", client_id=other.client.id), 404, "not_found", "client_id")
    reader = make_tenant("Readers", scopes=["posts:read"])
    assert_error(score(client, reader, caption="x"), 403, "forbidden")


def test_only_the_named_scorers_count(client, tenant):
    body = score(client, tenant, caption=GOOD_IG, scorers=["learned"]).get_json()
    assert [s["name"] for s in body["strategies"]] == ["learned"]
    assert body["score"] == 50  # nothing known, nothing weighted: the plain value


def test_v1_publish_scores_new_content(client, tenant, fake, build_app):
    app = build_app(**fake.hosts())
    http = app.test_client()
    from fakes.graph import PAGE_TOKEN

    in_a_month = (dt.datetime.now(dt.UTC) + dt.timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    account = http.post("/v1/accounts", json={"platform": "facebook", "access_token": PAGE_TOKEN},
                        headers=tenant.headers).get_json()["id"]
    body = http.post("/v1/publish", json={"content": "Fresh rye today! Order yours.", "accounts": [account],
                                          "schedule": in_a_month}, headers=tenant.headers)
    assert body.status_code == 201, body.get_json()
    body = body.get_json()
    with db.connection_context():
        stored = Post.get_by_id(int(body["id"].removeprefix("post_"))).score
    assert stored == heuristic.quick_value("Fresh rye today! Order yours.", ["facebook"]) and stored > 0


# -- a third-party scorer -----------------------------------------------------------------------------

class LengthScorer:
    name = "length_only"

    def score(self, post, context):
        return Score(min(100, len(post.caption)), [f"{len(post.caption)} characters"], confidence=0.5,
                     details={"workspace": context.workspace_id})


class BrokenScorer:
    name = "broken"

    def score(self, post, context):
        raise RuntimeError("boom")


class ScorerPlugin:
    @hookimpl
    def register_scorers(self, register):
        register(LengthScorer())
        register(BrokenScorer())


@pytest.fixture
def plugin_client(clock, config, register_plugin):
    register_plugin(ScorerPlugin(), "throwaway_scorers")
    herald.db.models._plugin_cache.clear()
    try:
        yield start_app(clock, config).test_client()
    finally:
        herald.db.models._plugin_cache.clear()
        db.obj.close_all()


def test_third_party_scorer_counts_and_a_broken_one_is_reported(plugin_client, config, clock):
    with db.connection_context():
        workspace = Workspace.create(name="Plugged")
        _, key = create_api_key(workspace, ["intelligence"], name="t")
    caption = "Fresh bread."
    body = plugin_client.post("/api/intelligence/score", json={"caption": caption},
                              headers={"X-API-Key": key}).get_json()
    by_name = {s["name"]: s for s in body["strategies"]}
    assert by_name["length_only"]["value"] == 12 and by_name["length_only"]["plugin"] == "throwaway_scorers"
    assert by_name["length_only"]["details"] == {"workspace": workspace.id}
    assert by_name["broken"]["value"] is None and by_name["broken"]["error"] == "RuntimeError: boom"
    h = by_name["heuristic"]["value"]
    assert body["score"] == round((h * 1.0 + 12 * 0.5) / 1.5, 1)
    assert "length_only: 12 characters" in body["reasons"]
    with db.connection_context():
        herald.db.models.set_plugin_enabled(workspace.id, "throwaway_scorers", False, clock.now())
    body = plugin_client.post("/api/intelligence/score", json={"caption": caption},
                              headers={"X-API-Key": key}).get_json()
    assert {s["name"] for s in body["strategies"]} == {"heuristic", "learned"}


def test_the_scorer_in_the_docs_plugs_in(clock, config):
    text = (Path(__file__).resolve().parents[1] / "docs" / "intelligence.md").read_text()
    module = types.ModuleType("doc_emoji_scorer")
    exec(re.search(r"```python\n(.*?)```", text, re.S).group(1), module.__dict__)
    pm = get_plugin_manager()
    pm.register(module, name="doc_emoji_scorer")
    try:
        app = start_app(clock, config, pm=pm)
        with db.connection_context():
            _, key = create_api_key(Workspace.create(name="Docs"), ["intelligence"], name="t")
        body = app.test_client().post("/api/intelligence/score", json={"caption": "Fresh bread \U0001F35E"},
                                      headers={"X-API-Key": key}).get_json()
    finally:
        pm.unregister(name="doc_emoji_scorer")
        db.obj.close_all()
    emoji = next(s for s in body["strategies"] if s["name"] == "emoji")
    assert (emoji["value"], emoji["confidence"], emoji["reasons"]) == (80, 0.5, ["1 emojis"])
