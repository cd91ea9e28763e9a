"""Stored insights (issue 25, item 3): the intelligence reads answer from ``post_insight`` rows kept per
post, and those answers stay the ones a computation from scratch gives, whatever happens to the posts
and their engagement in between, however it is written."""

from __future__ import annotations

import datetime as dt
import json
import random
from types import SimpleNamespace

from intel_data import make_post, push
from peewee import Table
from test_ids_never_reused import bound

from herald.cli import cli
from herald.db.migrate import runner
from herald.db.models import Client, EngagementSnapshot, Post, PostInsight, Workspace, db, open_database
from herald.intelligence import history, insights, learned, memory, openers, patterns
from herald.upgrading import upgrade

OPENERS = ["Why do we bake at 4am?", "3 mistakes every home baker makes", "How to shape a boule",
           "Our new croissant is here.", "Nobody tells you this about rye!", "Fresh out of the oven"]
MIDDLES = ["Because fresh bread matters.", "It is all about the flour and water.", "Come try it this weekend.",
           "Tell us your favourite in the comments!", "Save this for later.", "Link in bio 🥐", ""]
TAGS = ["#bakery", "#bread", "#sourdough", "#rye", "#breakfast", ""]
STATUSES = ["published"] * 6 + ["scheduled", "draft", "cancelled", "rejected"]


def caption(rng: random.Random) -> str:
    return "\n".join(part for part in (rng.choice(OPENERS), rng.choice(MIDDLES),
                                       " ".join(rng.sample(TAGS, rng.randint(0, 3))).strip()) if part)


def as_json(value):
    return json.loads(json.dumps(value, default=str))


def expected_reads(tenant, client_row) -> dict:
    """What memory, hooks, patterns and the learned score answer when computed from scratch."""
    items = history.recompute(tenant.workspace.id, client_row)
    candidate = SimpleNamespace(caption=OPENERS[0] + "\n#bread", post_type="post",
                                features=insights.feats.extract(OPENERS[0] + "\n#bread"),
                                keywords=insights.keywords(OPENERS[0] + "\n#bread"))
    return {"memory": as_json(memory.build(client_row, items)),
            "hooks": as_json(openers.build(tenant.workspace.id, client_row, items, limit=200)),
            "patterns": as_json({"client_id": client_row.id, **patterns.analyse(items, min_sample=2)}),
            "learned": learned.evaluate(candidate, items)}


def answered_reads(client, tenant) -> dict:
    client_id = tenant.client.id
    base = "/api/intelligence"
    score = client.post(f"{base}/score", headers=tenant.headers,
                        json={"caption": OPENERS[0] + "\n#bread", "client_id": client_id}).get_json()
    return {"memory": client.get(f"{base}/memory?client_id={client_id}", headers=tenant.headers).get_json(),
            "hooks": client.get(f"{base}/hooks?client_id={client_id}&limit=200", headers=tenant.headers).get_json(),
            "patterns": client.get(f"{base}/top-patterns?client_id={client_id}&min_sample=2",
                                   headers=tenant.headers).get_json(),
            "learned": next(part for part in score["strategies"] if part["name"] == "learned")}


def assert_same_as_from_scratch(client, tenant) -> None:
    answered = answered_reads(client, tenant)
    with db.connection_context():
        client_row = Client.get_by_id(tenant.client.id)
        expected = expected_reads(tenant, client_row)
        assert history.load(tenant.workspace.id, client_row) == history.recompute(tenant.workspace.id, client_row)
        posts = list(Post.select(Post.id, Post.caption).where(Post.client == client_row.id)
                     .order_by(Post.id).tuples())
        stored = {row["post"]: row for row in insights.stored_rows(post_id for post_id, _ in posts)}
        # Every post the reads walked has a row equal to one computed from scratch now.
        for row in insights.compute(posts):
            if row["post"] in stored:
                assert stored[row["post"]] == row
    assert answered["memory"] == expected["memory"]
    assert answered["hooks"] == expected["hooks"]
    assert answered["patterns"] == expected["patterns"]
    learned_score = expected["learned"]
    assert answered["learned"]["value"] == round(learned_score.value, 1)
    assert answered["learned"]["reasons"] == learned_score.reasons
    assert answered["learned"]["details"] == as_json(learned_score.details)


def test_reads_match_a_recomputation_after_random_posts_edits_deletes_and_engagement(client, tenant):
    rng = random.Random(25)
    with db.connection_context():
        Client.update(timezone="America/New_York").where(Client.id == tenant.client.id).execute()
    start = dt.datetime(2026, 1, 1, 6)
    ids: list[int] = []
    for round_number in range(6):
        for _ in range(12):
            ids.append(make_post(tenant, caption(rng), start + dt.timedelta(hours=rng.randint(0, 24 * 60)),
                                 post_type=rng.choice(["post", "reel", "carousel"]),
                                 topic=rng.choice(["", "news", "menu"]),
                                 status=rng.choice(STATUSES)))
        live = list(ids)
        # Engagement pushed through the API, and snapshots written straight to the table (another source).
        push(client, tenant, [{"post_id": post_id, "likes": rng.randint(0, 300), "comments": rng.randint(0, 40),
                               "saves": rng.randint(0, 30), "shares": rng.randint(0, 20),
                               "reach": rng.choice([0, 500, 1000, 4000])}
                              for post_id in rng.sample(live, min(len(live), 15))])
        with db.connection_context():
            for post_id in rng.sample(live, 4):
                EngagementSnapshot.create(post=post_id, source=rng.choice(["instagram", "facebook"]),
                                          likes=rng.randint(0, 100), reach=rng.randint(1, 2000))
            for post_id in rng.sample(live, 4):  # edits, as any writer does them
                Post.update(caption=caption(rng)).where(Post.id == post_id).execute()
            for post_id in rng.sample(live, 2):
                moved = start + dt.timedelta(days=rng.randint(0, 60))
                Post.update(status=rng.choice(STATUSES), published_at=moved).where(Post.id == post_id).execute()
            for post_id in rng.sample(live, 2):
                Post.delete().where(Post.id == post_id).execute()
                ids.remove(post_id)
        if round_number % 2:  # half the rounds read in between, so some rows are stale and some fresh
            assert_same_as_from_scratch(client, tenant)
    assert_same_as_from_scratch(client, tenant)


def test_a_missing_row_is_computed_on_first_need_and_rebuild_redoes_every_row(client, tenant):
    first = make_post(tenant, "Why is rye so dense?\n#bread", dt.datetime(2026, 1, 6, 14))
    second = make_post(tenant, "Our oven is 100 years old.", dt.datetime(2026, 1, 7, 14))
    push(client, tenant, [{"post_id": first, "likes": 30, "reach": 1000}])
    with db.connection_context():
        PostInsight.delete().execute()
    body = client.get(f"/api/intelligence/memory?client_id={tenant.client.id}", headers=tenant.headers).get_json()
    assert body["averages"]["posts"] == 2 and body["averages"]["engagement_rate"] == 0.03
    with db.connection_context():
        assert sorted(row.post_id for row in PostInsight.select()) == [first, second]
        PostInsight.update(first_line="stale", caption_digest="x").execute()
        assert insights.rebuild(tenant.workspace.id) == 2
        rows = {row["post"]: row for row in insights.stored_rows([first, second])}
        assert rows[first] == insights.compute([(first, "Why is rye so dense?\n#bread")])[0]
        assert rows[first]["first_line"] == "Why is rye so dense?" and rows[first]["likes"] == 30
        assert rows[second]["snapshots"] == 0 and rows[second]["reach"] is None


def test_the_rebuild_command_fills_the_table(app, tenant):
    make_post(tenant, "Fresh out of the oven #bread", dt.datetime(2026, 1, 6, 14))
    with db.connection_context():
        PostInsight.delete().execute()
    result = app.test_cli_runner().invoke(cli, ["derived", "rebuild", "intelligence", "--workspace",
                                                str(tenant.workspace.id)])
    assert result.exit_code == 0, result.output
    assert "Rebuilt intelligence (1 rows)" in result.output
    with db.connection_context():
        assert [row.hashtags for row in PostInsight.select()] == ["bread"]


def test_the_migration_fills_the_table_for_existing_posts_and_goes_back_down(tmp_path):
    database = open_database(f"sqlite:///{tmp_path / 'before.db'}")
    with database.connection_context():
        runner(database).up("0025_variants_and_alt_text")
    # Rows as they were at 0025, written without today's models (later migrations may add post columns).
    old_post = Table("post", ("id", "workspace_id", "topic", "caption", "post_type", "platforms", "media",
                              "status", "created_at", "updated_at")).bind(database)
    with bound(database):
        workspace = Workspace.create(name="w")
        now = dt.datetime(2026, 6, 1, 9)
        posts = [(old_post.insert(workspace_id=workspace.id, topic="", caption=text, post_type="post",
                                  platforms="[]", media="[]", status="draft", created_at=now,
                                  updated_at=now).execute(), text)
                 for text in ("Why is rye so dense?\n#bread #rye", "How to shape a boule", "")]
        EngagementSnapshot.create(post=posts[0][0], likes=12, reach=300)
    assert "0031_post_insights" in upgrade(database)
    with bound(database):
        stored = sorted(insights.stored_rows(post_id for post_id, _ in posts), key=lambda row: row["post"])
        assert stored == insights.compute(posts)
        assert (stored[0]["hashtags"], stored[0]["likes"], stored[1]["opener_style"]) == ("bread rye", 12, "how_to")
        columns = {column.name: column for column in database.get_columns("post_insight")}
        assert set(columns) == {field.column_name for field in PostInsight._meta.sorted_fields}
        for field in PostInsight._meta.sorted_fields:
            assert columns[field.column_name].null == field.null, field.name
    with database.connection_context():
        runner(database).down("0031_post_insights")
        assert "post_insight" not in database.get_tables()
    database.close_all()
