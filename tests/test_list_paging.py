"""Lists that do not grow (issue 25): keyset pages with no gaps or repeats while other threads write, the
post counters behind ``total`` exact under concurrent writes and deletes (compared with COUNT(*)), the
bound on OFFSET paging, and ``cursor`` / ``next_cursor`` on every list (SQLite, and PostgreSQL with
HERALD_TEST_POSTGRES)."""

from __future__ import annotations

import random
import threading

import pytest
from migration_support import database_migrated_to

from conftest import assert_error
from herald import chores
from herald.auth import create_api_key
from herald.cli import cli
from herald.db import post_counts
from herald.db.migrate import runner
from herald.db.models import Account, ApiKey, CompetitorAnalysis, DesignTemplate, Post, PostCount, db
from herald.db.paging import MAX_OFFSET

WRITERS = 4


@pytest.fixture
def app(build_app, plugin):
    return build_app()


def action(client, tenant, payload):
    """``POST /api/webhooks`` with ``payload``; its JSON (2xx asserted)."""
    response = client.post("/api/webhooks", json=payload, headers=tenant.headers)
    assert response.status_code in (200, 201), response.get_json()
    return response.get_json()


def draft(client, tenant, client_id: int, campaign_id: int | None = None) -> int:
    """A draft post of ``client_id`` created through the action; its id."""
    payload = {"action": "create_post", "client_id": client_id, "caption": "Autumn menu", "platforms": "instagram"}
    if campaign_id is not None:
        payload["campaign_id"] = campaign_id
    return action(client, tenant, payload)["post"]["id"]


def new_client(client, tenant, name: str) -> int:
    response = client.post("/api/clients", json={"name": name}, headers=tenant.headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()["client"]["id"]


def new_campaign(client, tenant, client_id: int, name: str) -> int:
    response = client.post("/api/campaigns", json={"name": name, "client_id": client_id}, headers=tenant.headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()["campaign"]["id"]


def get(client, tenant, path: str) -> dict:
    response = client.get(path, headers=tenant.headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def delete_post(post_id: int) -> None:
    """Delete a post row as the data layer would (no API deletes posts; the triggers must count it anyway)."""
    with db.connection_context(), db.atomic():
        Post.delete().where(Post.id == post_id).execute()


def in_threads(app, jobs) -> None:
    """Run each ``job(test_client, rng)`` in its own thread, released together; re-raise the first failure."""
    barrier = threading.Barrier(len(jobs))
    failures: list[BaseException] = []

    def run(index, job):
        client = app.test_client()
        barrier.wait()
        try:
            job(client, random.Random(index))
        except BaseException as exc:  # reported below, not lost in the thread
            failures.append(exc)
        finally:
            db.close()

    threads = [threading.Thread(target=run, args=(index, job)) for index, job in enumerate(jobs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "a thread never finished (deadlock?)"
    if failures:
        raise failures[0]


def counted(**where) -> int:
    """COUNT(*) of the posts matching ``where`` (field: value): what ``total`` must say."""
    with db.connection_context():
        query = Post.select()
        for name, value in where.items():
            query = query.where(getattr(Post, name) == value)
        return query.count()


def test_keyset_pages_have_no_gaps_or_repeats_while_others_insert_and_delete(app, client, tenant):
    before = [draft(client, tenant, tenant.client.id) for _ in range(40)]
    deleted: list[int] = []
    pages: list[list[int]] = []

    def reader(test_client, rng):
        for _ in range(3):  # several full walks while the writers run
            seen, cursor = [], None
            while True:
                body = get(test_client, tenant, "/v1/posts?limit=7" + (f"&cursor={cursor}" if cursor else ""))
                seen += [int(post["id"].removeprefix("post_")) for post in body["posts"]]
                cursor = body["next_cursor"]
                if cursor is None:
                    break
            pages.append(seen)

    def writer(test_client, rng):
        for _ in range(8):
            draft(test_client, tenant, tenant.client.id)
            victim = rng.choice(before)
            if victim not in deleted:
                deleted.append(victim)
                delete_post(victim)

    in_threads(app, [reader] + [writer] * WRITERS)
    kept = set(before) - set(deleted)
    for seen in pages:
        assert seen == sorted(seen, reverse=True) and len(seen) == len(set(seen)), "a page repeated or went back"
        below = {post_id for post_id in kept if post_id < seen[0]}
        assert below <= set(seen), f"posts that stayed were skipped: {sorted(below - set(seen))}"


def test_counters_stay_exact_under_concurrent_writes_and_deletes(app, client, tenant):
    clients = [tenant.client.id, new_client(client, tenant, "Bakery")]
    campaigns = {owner: new_campaign(client, tenant, owner, f"Spring {owner}") for owner in clients}
    created: list[int] = []
    lock = threading.Lock()

    def writer(test_client, rng):
        for _ in range(10):
            owner = rng.choice(clients)
            post_id = draft(test_client, tenant, owner, rng.choice([None, campaigns[owner]]))
            with lock:
                created.append(post_id)
                other = rng.choice(created)
            what = rng.choice(["approval", "campaign", "delete", "none"])
            if what == "approval":  # a status change
                test_client.post(f"/v1/posts/post_{other}/request-approval", json={}, headers=tenant.headers)
            elif what == "campaign":  # a campaign change (to it or out of it)
                row = Post.get_or_none(Post.id == other)
                if row is not None:
                    target = campaigns[row.client_id] if row.campaign_id is None else None
                    test_client.post("/api/webhooks", headers=tenant.headers, json={
                        "action": "update_post", "post_id": other, "campaign_id": target})
            elif what == "delete":
                delete_post(other)

    in_threads(app, [writer] * WRITERS)
    with db.connection_context():
        assert post_counts.drift(db.obj) == []
    workspace = tenant.workspace.id
    assert get(client, tenant, "/v1/posts")["total"] == counted(workspace=workspace)
    for owner in clients:
        assert get(client, tenant, f"/v1/posts?client_id={owner}")["total"] == counted(client=owner)
        assert get(client, tenant, f"/v1/posts?campaign_id={campaigns[owner]}")["total"] == counted(
            campaign=campaigns[owner])
        for status in ("draft", "pending_approval"):
            assert action(client, tenant, {"action": "list_posts", "client_id": owner, "status": status})[
                "total"] == counted(client=owner, status=status)
    assert get(client, tenant, "/v1/posts?status=pending_approval")["total"] == counted(status="pending_approval")
    listed = {row["id"]: row["post_count"] for row in get(client, tenant, "/api/campaigns")["campaigns"]}
    assert listed == {campaign: counted(campaign=campaign) for campaign in campaigns.values()}


def test_a_page_past_the_offset_bound_is_400_pointing_to_cursor(client, tenant):
    deepest = MAX_OFFSET // 20 + 1  # its first row is the 10,001st
    assert get(client, tenant, f"/v1/posts?page={deepest}&limit=20")["posts"] == []
    error = assert_error(client.get(f"/v1/posts?page={deepest + 1}&limit=20", headers=tenant.headers),
                         400, "validation_error", "page")
    assert "cursor" in error["message"]
    for path in ("/api/clients", "/api/campaigns", "/api/intelligence/competitors", "/api/ai-design/templates"):
        assert get(client, tenant, f"{path}?offset={MAX_OFFSET}")["total"] >= 0
        assert "cursor" in assert_error(client.get(f"{path}?offset={MAX_OFFSET + 1}", headers=tenant.headers),
                                        400, "validation_error", "offset")["message"]
    for bad in ("abc", "0", "post_", "-3", "9" * 19):
        assert_error(client.get(f"/api/clients?cursor={bad}", headers=tenant.headers), 400, "validation_error",
                     "cursor")


def walk(client, tenant, path: str, items: str, limit: int = 2) -> tuple[list, set[int]]:
    """Every row of a list, page after page by cursor: the ids in order and the totals each page said."""
    ids, totals, cursor = [], set(), None
    joiner = "&" if "?" in path else "?"
    while True:
        body = get(client, tenant, f"{path}{joiner}limit={limit}" + (f"&cursor={cursor}" if cursor else ""))
        ids += [row["id"] for row in body[items]]
        totals.add(body.get("total"))  # the lists of keys and accounts have none
        cursor = body["next_cursor"]
        if cursor is None:
            return ids, totals


def test_every_list_pages_with_cursor(app, client, tenant, make_tenant):
    bakery = new_client(client, tenant, "Bakery")
    spring = new_campaign(client, tenant, bakery, "Spring")
    new_campaign(client, tenant, tenant.client.id, "Autumn")
    posts = [draft(client, tenant, tenant.client.id) for _ in range(3)] + [
        draft(client, tenant, bakery, spring) for _ in range(2)]
    rival = make_tenant("Rival")
    draft(client, rival, rival.client.id)  # another workspace's rows are never listed nor counted
    with db.connection_context():
        for number in range(3):
            CompetitorAnalysis.create(workspace=tenant.workspace.id, client=bakery, url=f"https://{number}.example",
                                      title=f"Rival {number}", analysis={})
            DesignTemplate.create(workspace=tenant.workspace.id, client=bakery, palette=[], template={})

    v1 = [int(post_id.removeprefix("post_")) for post_id in walk(client, tenant, "/v1/posts", "posts")[0]]
    assert (v1, walk(client, tenant, "/v1/posts", "posts")[1]) == (sorted(posts, reverse=True), {5})
    assert walk(client, tenant, f"/v1/posts?client_id={bakery}", "posts")[1] == {2}
    assert walk(client, tenant, f"/v1/posts?campaign_id={spring}&status=draft", "posts")[1] == {2}
    assert walk(client, tenant, "/v1/posts?status=queued", "posts") == ([], {0})
    clients, totals = walk(client, tenant, "/api/clients", "clients")
    assert clients == sorted(clients) and len(clients) == 2 and totals == {2}  # oldest first
    campaigns, totals = walk(client, tenant, "/api/campaigns", "campaigns", limit=1)
    assert campaigns == sorted(campaigns, reverse=True) and len(campaigns) == 2 and totals == {2}
    for path, items in (("/api/intelligence/competitors", "analyses"), ("/api/ai-design/templates", "templates")):
        ids, totals = walk(client, tenant, path, items)
        assert ids == sorted(ids, reverse=True) and len(ids) == 3 and totals == {3}
    seen, cursor = [], None
    while True:
        payload = {"action": "list_posts", "client_id": bakery, "limit": 1}
        body = action(client, tenant, dict(payload, cursor=cursor) if cursor else payload)
        seen += [row["id"] for row in body["posts"]]
        assert body["total"] == 2
        if not (cursor := body["next_cursor"]):
            break
    assert seen == sorted(posts[3:], reverse=True)


def test_keys_and_accounts_page_with_cursor_oldest_first(app, client, tenant, make_tenant):
    rival = make_tenant("Rival")
    with db.connection_context():
        for number in range(3):
            Account.create(workspace=tenant.workspace.id, platform="facebook", external_id=f"page-{number}",
                           username=f"page{number}", token_encrypted="x")
            create_api_key(tenant.workspace, name=f"key {number}")
        Account.create(workspace=rival.workspace.id, platform="facebook", external_id="rival", token_encrypted="x")
        create_api_key(rival.workspace, name="rival's")
        accounts = [f"acc_{row.id}" for row in Account.select().where(Account.workspace == tenant.workspace.id)
                    .order_by(Account.id)]
        keys = [row.id for row in ApiKey.select().where(ApiKey.workspace == tenant.workspace.id).order_by(ApiKey.id)]
    assert len(accounts) >= 3 and len(keys) >= 4
    assert walk(client, tenant, "/v1/accounts", "accounts", limit=2)[0] == accounts
    assert walk(client, tenant, "/api/keys", "keys", limit=1)[0] == keys
    whole = get(client, tenant, "/v1/accounts")  # without limit or cursor: every row, as the API documents it
    assert [row["id"] for row in whole["accounts"]] == accounts and whole["next_cursor"] is None
    assert_error(client.get("/v1/accounts?cursor=post_1", headers=tenant.headers), 400, "validation_error", "cursor")


def test_lists_documented_whole_stay_whole_unless_the_request_pages(app, client, tenant):
    with db.connection_context():
        Account.insert_many([{"workspace": tenant.workspace.id, "platform": "facebook", "external_id": f"page-{n}",
                              "token_encrypted": "x"} for n in range(205)]).execute()
        expected = Account.select().where(Account.workspace == tenant.workspace.id).count()
    whole = get(client, tenant, "/v1/accounts")
    assert len(whole["accounts"]) == expected > 200 and whole["next_cursor"] is None
    page = get(client, tenant, "/v1/accounts?limit=200")
    assert len(page["accounts"]) == 200 and page["next_cursor"] == page["accounts"][-1]["id"]
    rest = get(client, tenant, f"/v1/accounts?cursor={page['next_cursor']}")  # a cursor pages at the maximum
    assert [row["id"] for row in page["accounts"] + rest["accounts"]] == [row["id"] for row in whole["accounts"]]
    assert_error(client.get("/v1/accounts?limit=201", headers=tenant.headers), 400, "validation_error", "limit")


def test_portal_links_post_versions_and_comments_page_with_cursor(app, client, tenant):
    links = []
    for number in range(3):
        response = client.post("/api/client-portal/create-token", headers=tenant.headers,
                               json={"client_id": tenant.client.id, "permissions": "view", "name": f"link {number}"})
        assert response.status_code == 201, response.get_json()
        links.append(response.get_json()["id"])
    assert walk(client, tenant, "/api/client-portal/tokens", "tokens", limit=2)[0] == links[::-1]  # newest first
    post = draft(client, tenant, tenant.client.id)
    for number in range(3):
        response = client.patch(f"/v1/posts/post_{post}", json={"content": f"Take {number}"}, headers=tenant.headers)
        assert response.status_code == 200, response.get_json()
    numbers, cursor = [], None
    while True:
        body = get(client, tenant, f"/api/posts/{post}/versions?limit=3" + (f"&cursor={cursor}" if cursor else ""))
        numbers += [version["number"] for version in body["versions"]]
        if not (cursor := body["next_cursor"]):
            break
    assert numbers == [1, 2, 3, 4]  # oldest first, across pages
    assert get(client, tenant, f"/api/posts/{post}/versions")["next_cursor"] is None
    comments = []
    for number in range(3):
        response = client.post(f"/v1/posts/post_{post}/comments", json={"body": f"Note {number}"},
                               headers=tenant.headers)
        assert response.status_code == 201, response.get_json()
        comments.append(response.get_json()["comment"]["id"])
    assert walk(client, tenant, f"/v1/posts/post_{post}/comments", "comments", limit=2)[0] == comments


def test_the_platform_filter_counts_exactly(app, client, tenant):
    account = client.post("/v1/accounts", json={"platform": "scripted", "access_token": "tok_live_0001"},
                          headers=tenant.headers).get_json()["id"]
    published = client.post("/v1/publish", headers=tenant.headers, json={
        "accounts": [account], "client_id": tenant.client.id, "content": "Hello"}).get_json()["id"]
    draft(client, tenant, tenant.client.id)
    assert walk(client, tenant, "/v1/posts?platform=scripted", "posts") == ([published], {1})
    assert walk(client, tenant, "/v1/posts?platform=mastodon", "posts") == ([], {0})
    assert get(client, tenant, "/v1/posts")["total"] == 2


def test_drifted_counters_are_found_and_rebuilt(app, client, tenant):
    for _ in range(3):
        draft(client, tenant, tenant.client.id)
    with db.connection_context():
        PostCount.update(n=PostCount.n + 5).execute()  # a write that went around the triggers
        PostCount.create(workspace_id=tenant.workspace.id, client_id=999, campaign_id=0, status="draft", n=2)
    runner = app.test_cli_runner()
    result = runner.invoke(cli, ["derived", "check", "counters"])
    assert result.exit_code == 1 and "stored 8, counted 3" in result.output, result.output
    assert runner.invoke(cli, ["derived", "rebuild", "counters"]).exit_code == 0
    result = runner.invoke(cli, ["derived", "check", "counters"])
    assert result.exit_code == 0 and "agrees" in result.output, result.output
    assert get(client, tenant, "/v1/posts")["total"] == 3
    with db.connection_context():
        PostCount.update(n=0).execute()
    assert chores.repair_derived() == {"repaired": 1}
    assert chores.repair_derived() == {"repaired": 0}
    assert get(client, tenant, "/v1/posts")["total"] == 3


@pytest.fixture(params=["sqlite", "postgresql"])
def database_at_0025(request, tmp_path):
    """A database migrated to 0025 (SQLite, or a PostgreSQL database of its own when HERALD_TEST_POSTGRES is set)."""
    yield from database_migrated_to(request.param, tmp_path, "0025_variants_and_alt_text")


def stored_counts(database) -> set[tuple]:
    return set(database.execute_sql("SELECT workspace_id, client_id, campaign_id, status, n FROM post_count "
                                    "WHERE n <> 0").fetchall())


def test_the_migration_counts_the_posts_there_are_and_goes_down_and_up_again(database_at_0025):
    database = database_at_0025
    with database.connection_context():
        database.execute_sql("INSERT INTO workspace (name, plan, settings, created_at) "
                             "VALUES ('w', 'pro', '{}', CURRENT_TIMESTAMP)")
        workspace = database.execute_sql("SELECT MAX(id) FROM workspace").fetchone()[0]
        database.execute_sql(f"INSERT INTO client (workspace_id, name, brand_voice, timezone, created_at, updated_at) "
                             f"VALUES ({workspace}, 'c', '', 'UTC', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)")
        client = database.execute_sql("SELECT MAX(id) FROM client").fetchone()[0]

        def insert(client_id, status):
            database.execute_sql(
                "INSERT INTO post (workspace_id, client_id, topic, caption, post_type, platforms, media, status, "
                f"created_at, updated_at) VALUES ({workspace}, {client_id or 'NULL'}, '', '', 'post', '[]', '[]', "
                f"'{status}', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)")

        for client_id, status in ((client, "draft"), (client, "draft"), (None, "draft"), (client, "published")):
            insert(client_id, status)
        runner(database).up("0026_list_indexes_and_post_counts")
        assert stored_counts(database) == {(workspace, client, 0, "draft", 2), (workspace, 0, 0, "draft", 1),
                                           (workspace, client, 0, "published", 1)}
        runner(database).down("0026_list_indexes_and_post_counts")
        assert "post_count" not in database.get_tables()
        insert(client, "published")  # no trigger is left behind to write to the dropped table
        runner(database).up("0026_list_indexes_and_post_counts")
        assert (workspace, client, 0, "published", 2) in stored_counts(database)
