"""Brand memory, hooks, winning patterns, the audit and the full report, each checked value by value
on a constructed history (posts at known times, engagement pushed through the batch endpoint)."""

from __future__ import annotations

import datetime as dt

import pytest
from intel_data import make_post, push, rate_item

from conftest import assert_error
from herald.db.models import Client, db

# (caption, topic, published at (UTC), engagement rate). The client is in New York (UTC-5 in January).
HISTORY = [
    ("Why do we bake at 4am?\nBecause fresh bread matters. Tell us your favourite! #bakery #bread",
     "behind the scenes", dt.datetime(2026, 1, 5, 14), 0.12),  # Monday 09:00 in New York
    ("Why is rye so dense?\nIt is all about the flour. #bread", "education", dt.datetime(2026, 1, 6, 14), 0.09),
    ("Our new croissant is here.\nCome try it. #bakery", "product", dt.datetime(2026, 1, 7, 23), 0.04),  # Wed 18:00
    ("Our weekend hours change.\nOpen 8 to 2. #bakery", "news", dt.datetime(2026, 1, 8, 23), 0.02),
    ("Our oven is 100 years old.\nStill baking.", "", dt.datetime(2026, 1, 10, 3), 0.06),  # Saturday UTC, Friday 22:00
    ("Why do we bake at 4am?\nThe dough needs the night. #bakery", "behind the scenes",
     dt.datetime(2026, 1, 12, 14), 0.08),
]
BASELINE = round(sum(rate for *_, rate in HISTORY) / len(HISTORY), 6)  # 0.068333


@pytest.fixture
def history(client, tenant):
    """The tenant's client, in New York, with HISTORY; returns the post ids in order."""
    with db.connection_context():
        Client.update(timezone="America/New_York", brand_voice="Warm, early-morning baker talk").where(
            Client.id == tenant.client.id).execute()
    ids = [make_post(tenant, caption, when, topic=topic) for caption, topic, when, _ in HISTORY]
    push(client, tenant, [rate_item(post_id, rate) for post_id, (*_, rate) in zip(ids, HISTORY, strict=True)])
    return ids


def get(client, tenant, path):
    response = client.get(path, headers=tenant.headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_brand_memory(client, tenant, history):
    memory = get(client, tenant, f"/api/intelligence/memory?client_id={tenant.client.id}")
    assert memory["client"] == {"id": tenant.client.id, "name": tenant.client.name, "timezone": "America/New_York"}
    assert memory["voice"]["notes"] == "Warm, early-morning baker talk"
    assert memory["voice"]["observed"]["question_share"] == 0.5
    assert memory["voice"]["observed"]["call_to_action_share"] == round(2 / 6, 3)
    # Days and hours in the client's time zone: the post at 03:00 UTC on Saturday is a Friday-night post.
    assert [(row["day"], row["posts"], row["average_engagement_rate"]) for row in memory["best_days"]] == [
        ("Monday", 2, 0.1), ("Tuesday", 1, 0.09), ("Friday", 1, 0.06), ("Wednesday", 1, 0.04),
        ("Thursday", 1, 0.02)]
    assert [(row["hour"], row["posts"], row["average_engagement_rate"]) for row in memory["best_hours"]] == [
        (9, 3, round(0.29 / 3, 6)), (22, 1, 0.06), (18, 2, 0.03)]
    assert memory["hashtags"] == [
        {"hashtag": "#bakery", "posts": 4, "average_engagement_rate": 0.065},
        {"hashtag": "#bread", "posts": 2, "average_engagement_rate": 0.105}]
    assert memory["topics"][0] == {"topic": "behind the scenes", "posts": 2, "average_engagement_rate": 0.1}
    assert {row["word"] for row in memory["keywords"][:1]} == {"bake"}
    averages = memory["averages"]
    assert averages["posts"] == 6 and averages["posts_with_engagement"] == 6
    assert averages["engagement_rate"] == BASELINE
    assert averages["metrics"]["reach"] == 1000 and averages["metrics"]["likes"] == round(410 / 6, 1)
    lengths = [len(caption) for caption, *_ in HISTORY]
    assert averages["caption_length"]["average_characters"] == round(sum(lengths) / 6, 1)
    assert averages["caption_length"]["top_quarter_average_characters"] == len(HISTORY[0][0])


def test_top_hooks(client, tenant, history):
    body = get(client, tenant, f"/api/intelligence/hooks?client_id={tenant.client.id}")
    assert body["total"] == 5 and body["generated"] == []
    assert [(row["rank"], row["hook"], row["uses"], row["average_engagement_rate"]) for row in body["hooks"]] == [
        (1, "Why do we bake at 4am?", 2, 0.1),
        (2, "Why is rye so dense?", 1, 0.09),
        (3, "Our oven is 100 years old.", 1, 0.06),
        (4, "Our new croissant is here.", 1, 0.04),
        (5, "Our weekend hours change.", 1, 0.02)]
    top = body["hooks"][0]
    assert top["hook_style"] == "question" and top["best_engagement_rate"] == 0.12
    assert top["post_ids"] == [history[0], history[5]]
    assert len(get(client, tenant, f"/api/intelligence/hooks?client_id={tenant.client.id}&limit=2")["hooks"]) == 2


def test_top_patterns_with_evidence(client, tenant, history):
    body = get(client, tenant, f"/api/intelligence/top-patterns?client_id={tenant.client.id}")
    assert body["baseline_engagement_rate"] == BASELINE and body["posts_analysed"] == 6
    questions = round(0.29 / 3, 6)
    lift = round(questions / BASELINE, 3)
    assert [(row["dimension"], row["value"], row["sample_size"], row["average_engagement_rate"], row["lift"])
            for row in body["patterns"]] == [
        ("hook_style", "question", 3, questions, lift),
        ("question", "with", 3, questions, lift),
        ("time_of_day", "morning", 3, questions, lift)]
    assert body["patterns"][0]["pattern"] == "question hooks"
    assert body["patterns"][0]["example_post_ids"] == [history[0], history[1], history[5]]
    assert [(row["dimension"], row["value"], row["lift"]) for row in body["weak_patterns"]] == [
        ("hook_style", "statement", round(0.04 / BASELINE, 3)), ("question", "without", round(0.04 / BASELINE, 3))]
    days = {row["value"]: row["sample_size"] for row in body["dimensions"]["day_of_week"]["values"]}
    assert days == {"Monday": 2, "Tuesday": 1, "Wednesday": 1, "Thursday": 1, "Friday": 1}
    loose = get(client, tenant, f"/api/intelligence/top-patterns?client_id={tenant.client.id}&min_sample=2")
    assert ("day_of_week", "Monday") in {(row["dimension"], row["value"]) for row in loose["patterns"]}


def test_reports_need_a_client_of_the_workspace(client, tenant, make_tenant, history):
    other = make_tenant("Other agency")
    for path in ("memory", "hooks", "top-patterns", "export"):
        assert_error(client.get(f"/api/intelligence/{path}", headers=tenant.headers), 400, "validation_error",
                     "client_id")
        assert_error(client.get(f"/api/intelligence/{path}?client_id={tenant.client.id}", headers=other.headers),
                     404, "not_found", "client_id")
    assert_error(client.post("/api/intelligence/analyze-performance", json={"client_id": tenant.client.id},
                             headers=other.headers), 404, "not_found", "client_id")
    assert_error(client.get(f"/api/intelligence/memory?client_id={tenant.client.id}",
                            headers=make_tenant("Readers", scopes=["posts:read"]).headers), 403, "forbidden")


# -- the audit --------------------------------------------------------------------------------------

def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def test_audit_finds_a_decline_a_gap_and_missing_calls_to_action(client, tenant):
    start = now()
    previous = [make_post(tenant, f"Loaf of the week {n}.", start - dt.timedelta(days=40 + n)) for n in range(3)]
    current = [make_post(tenant, f"Our {name} bread.", start - dt.timedelta(days=days))
               for name, days in (("rye", 25), ("spelt", 24), ("oat", 3), ("corn", 2))]
    rates = [0.10, 0.10, 0.10, 0.05, 0.05, 0.04, 0.06]
    push(client, tenant, [rate_item(post_id, rate) for post_id, rate in zip(previous + current, rates, strict=True)])
    response = client.post("/api/intelligence/analyze-performance", json={"client_id": tenant.client.id, "period": 30},
                           headers=tenant.headers)
    assert response.status_code == 200
    audit = response.get_json()
    assert audit["period"]["days"] == 30
    cadence = audit["cadence"]
    assert (cadence["posts"], cadence["posts_per_week"], cadence["previous_period_posts"]) == (4, 0.93, 3)
    assert cadence["longest_gap_days"] == 21.0 and sum(cadence["posts_by_weekday"].values()) == 4
    trend = audit["trend"]
    assert trend["engagement_rate"] == 0.05 and trend["previous_period_engagement_rate"] == 0.1
    assert trend["change_vs_previous_period"] == -0.5 and trend["direction"] == "down"
    assert [row["post_id"] for row in audit["best_posts"]] == [current[3], current[0], current[1]]
    assert [row["post_id"] for row in audit["worst_posts"]] == [current[2]]
    rules = [row["rule"] for row in audit["recommendations"]]
    # All four posts went out at the same hour of the day, which is therefore the best one.
    assert rules == ["post_more_often", "reverse_decline", "avoid_gaps", "add_calls_to_action", "best_time"]
    by_rule = {row["rule"]: row for row in audit["recommendations"]}
    assert by_rule["post_more_often"]["evidence"] == {"posts_per_week": 0.93, "target": 3}
    assert by_rule["reverse_decline"]["message"].startswith("Engagement is falling (-50%)")
    assert by_rule["avoid_gaps"]["evidence"] == {"longest_gap_days": 21.0}
    assert by_rule["add_calls_to_action"]["evidence"] == {"posts_without": 4, "posts": 4}


def test_audit_of_a_client_without_posts_says_start_posting(client, tenant):
    audit = client.post("/api/intelligence/analyze-performance", json={"client_id": tenant.client.id},
                        headers=tenant.headers).get_json()
    assert audit["cadence"]["posts"] == 0 and audit["trend"]["direction"] is None
    assert [row["rule"] for row in audit["recommendations"]] == ["start_posting"]
    assert_error(client.post("/api/intelligence/analyze-performance", json={"client_id": tenant.client.id,
                                                                             "period": 0}, headers=tenant.headers),
                 400, "validation_error", "period")


def test_audit_recommends_winning_patterns_and_times(client, tenant, history):
    audit = client.post("/api/intelligence/analyze-performance", json={"client_id": tenant.client.id, "period": 365},
                        headers=tenant.headers).get_json()
    use_more = [row for row in audit["recommendations"] if row["rule"] == "use_more"]
    assert [row["evidence"]["value"] for row in use_more] == ["question", "with", "morning"]
    assert use_more[0]["message"].startswith("Do more question hooks: 3 posts averaged 9.67% against a baseline "
                                             "of 6.83% (1.41x).")
    best_time = next(row for row in audit["recommendations"] if row["rule"] == "best_time")
    assert best_time["message"].startswith("Schedule important posts around 09:00")


# -- the full report --------------------------------------------------------------------------------

def test_export_is_every_report_in_one_document(client, tenant, history):
    scored = client.post("/api/intelligence/score", json={"post_id": history[0]}, headers=tenant.headers).get_json()
    response = client.get(f"/api/intelligence/export?client_id={tenant.client.id}&period=365", headers=tenant.headers)
    assert response.status_code == 200
    assert response.headers["Content-Disposition"].startswith(
        f'attachment; filename="herald-report-client-{tenant.client.id}-')
    report = response.get_json()
    assert report["memory"] == get(client, tenant, f"/api/intelligence/memory?client_id={tenant.client.id}")
    assert report["hooks"] == get(client, tenant, f"/api/intelligence/hooks?client_id={tenant.client.id}")
    patterns = get(client, tenant, f"/api/intelligence/top-patterns?client_id={tenant.client.id}")
    patterns.pop("client_id")
    assert report["patterns"] == patterns
    assert report["audit"]["period"]["days"] == 365 and report["audit"]["cadence"]["posts"] == 6
    assert report["scores"]["posts_scored"] == 1 and report["scores"]["average"] == scored["score"]
    assert report["scores"]["posts"][0]["post_id"] == history[0]
