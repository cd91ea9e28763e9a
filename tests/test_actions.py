"""The action endpoint with the Airpost document's payloads, as written."""

from conftest import assert_error
from herald.events import dispatch_marks

SEED_CREATE = {"action": "create_post", "client_id": 1, "topic": "Text on design", "caption": "Instagram caption",
               "post_type": "post", "platforms": "instagram"}


def run(client, tenant, payload, **kwargs):
    return client.post("/api/webhooks", json=payload, headers=tenant.headers, **kwargs)


def test_seed_create_post_then_list_posts(client, tenant):
    payload = dict(SEED_CREATE, client_id=tenant.client.id)
    created = run(client, tenant, payload)
    assert created.status_code == 201, created.get_json()
    post = created.get_json()["post"]
    assert post["topic"] == "Text on design"
    assert post["caption"] == "Instagram caption"
    assert post["platforms"] == ["instagram"]
    assert post["status"] == "draft"
    assert post["client_id"] == tenant.client.id

    listed = run(client, tenant, {"action": "list_posts", "client_id": tenant.client.id})
    assert listed.status_code == 200
    body = listed.get_json()
    assert body["total"] == 1
    assert [p["id"] for p in body["posts"]] == [post["id"]]


def test_zapier_example_without_post_type_defaults_to_post(client, tenant):
    payload = {"action": "create_post", "client_id": tenant.client.id, "topic": "Row A", "caption": "Row B",
               "platforms": "instagram"}
    response = run(client, tenant, payload)
    assert response.status_code == 201
    assert response.get_json()["post"]["post_type"] == "post"


def test_platforms_as_list_and_comma_separated_string(client, tenant):
    as_list = run(client, tenant, dict(SEED_CREATE, client_id=tenant.client.id, platforms=["instagram", "facebook"]))
    as_text = run(client, tenant, dict(SEED_CREATE, client_id=tenant.client.id, platforms="Instagram, facebook"))
    assert as_list.get_json()["post"]["platforms"] == ["instagram", "facebook"]
    assert as_text.get_json()["post"]["platforms"] == ["instagram", "facebook"]


def test_client_id_as_numeric_string_is_accepted(client, tenant):
    response = run(client, tenant, dict(SEED_CREATE, client_id=str(tenant.client.id)))
    assert response.status_code == 201


def test_update_engagement_keeps_history(client, tenant):
    post_id = run(client, tenant, dict(SEED_CREATE, client_id=tenant.client.id)).get_json()["post"]["id"]
    first = run(client, tenant, {"action": "update_engagement", "post_id": post_id, "likes": 150, "comments": 23,
                                 "saves": 45, "shares": 12, "reach": 5000})
    assert first.status_code == 200
    assert first.get_json()["engagement"]["likes"] == 150
    second = run(client, tenant, {"action": "update_engagement", "post_id": post_id, "likes": 170, "comments": 25,
                                  "saves": 45, "reach": 5200})
    assert second.get_json()["engagement"]["likes"] == 170
    from herald.db.models import EngagementSnapshot

    assert [s.likes for s in EngagementSnapshot.select().order_by(EngagementSnapshot.id)] == [150, 170]
    listed = run(client, tenant, {"action": "list_posts", "client_id": tenant.client.id}).get_json()
    assert listed["posts"][0]["engagement"]["likes"] == 170


def test_the_zapier_example_without_shares_keeps_the_shares_last_pushed(client, tenant):
    """The document's Zapier step omits ``shares``: the post's shares stay 12, not 0."""
    post_id = run(client, tenant, dict(SEED_CREATE, client_id=tenant.client.id)).get_json()["post"]["id"]
    run(client, tenant, {"action": "update_engagement", "post_id": post_id, "likes": 150, "comments": 23,
                         "saves": 45, "shares": 12, "reach": 5000})
    zapier = run(client, tenant, {"action": "update_engagement", "post_id": post_id, "likes": 160, "comments": 23,
                                  "saves": 45, "reach": 5000})
    assert zapier.status_code == 200, zapier.get_json()
    engagement = zapier.get_json()["engagement"]
    assert (engagement["likes"], engagement["shares"], engagement["reach"]) == (160, 12, 5000)
    listed = run(client, tenant, {"action": "list_posts", "client_id": tenant.client.id}).get_json()
    assert listed["posts"][0]["engagement"]["shares"] == 12
    likes_only = run(client, tenant, {"action": "update_engagement", "post_id": post_id, "likes": 170}).get_json()
    assert {name: likes_only["engagement"][name] for name in ("likes", "comments", "saves", "shares", "reach")} == {
        "likes": 170, "comments": 23, "saves": 45, "shares": 12, "reach": 5000}


def test_create_post_records_first_version_and_event(client, tenant):
    from herald.db.models import Event, PostVersion

    post_id = run(client, tenant, dict(SEED_CREATE, client_id=tenant.client.id)).get_json()["post"]["id"]
    versions = list(PostVersion.select().where(PostVersion.post == post_id))
    assert len(versions) == 1
    assert versions[0].number == 1
    assert versions[0].actor.startswith("key:")
    assert versions[0].changes["caption"] == {"before": None, "after": "Instagram caption"}
    event = Event.get(Event.type == "post.created")
    assert event.data["post"]["id"] == f"post_{post_id}"  # events carry the /v1 shape, as webhooks do
    assert dispatch_marks.write_owed() == 1  # dispatched; its mark is written with the next ones
    assert Event.get_by_id(event.id).dispatched_at is not None


def test_list_posts_paginates_with_cursor(client, tenant):
    ids = [run(client, tenant, dict(SEED_CREATE, client_id=tenant.client.id, topic=f"t{i}")).get_json()["post"]["id"]
           for i in range(5)]
    page = run(client, tenant, {"action": "list_posts", "client_id": tenant.client.id, "limit": 2}).get_json()
    assert [p["id"] for p in page["posts"]] == ids[::-1][:2]
    assert page["total"] == 5
    rest = run(client, tenant, {"action": "list_posts", "client_id": tenant.client.id, "limit": 3,
                                "cursor": page["next_cursor"]}).get_json()
    assert [p["id"] for p in rest["posts"]] == ids[::-1][2:]
    assert rest["next_cursor"] is None


def test_unknown_action_lists_available_ones(client, tenant):
    error = assert_error(run(client, tenant, {"action": "publish_everything"}), 400, "validation_error", "action")
    for name in ("create_post", "list_posts", "update_engagement"):
        assert name in error["message"]


def test_missing_action_is_400(client, tenant):
    assert_error(run(client, tenant, {"client_id": 1}), 400, "validation_error", "action")


def test_missing_client_id_points_at_field(client, tenant):
    assert_error(run(client, tenant, {"action": "create_post", "caption": "x"}), 400, "validation_error", "client_id")


def test_wrong_type_points_at_field(client, tenant):
    payload = dict(SEED_CREATE, client_id=tenant.client.id, caption=12)
    assert_error(run(client, tenant, payload), 400, "validation_error", "caption")
    payload = dict(SEED_CREATE, client_id="abc")
    assert_error(run(client, tenant, payload), 400, "validation_error", "client_id")


def test_unknown_field_is_named(client, tenant):
    payload = dict(SEED_CREATE, client_id=tenant.client.id, captoin="typo")
    assert_error(run(client, tenant, payload), 400, "validation_error", "captoin")


def test_unknown_client_is_404_on_client_id(client, tenant):
    assert_error(run(client, tenant, dict(SEED_CREATE, client_id=999)), 404, "not_found", "client_id")


def test_unknown_platform_is_400(client, tenant):
    error = assert_error(run(client, tenant, dict(SEED_CREATE, client_id=tenant.client.id, platforms="myspace")),
                         400, "validation_error", "platforms")
    assert "instagram" in error["message"]


def test_post_type_the_platform_cannot_publish_is_400(client, tenant):
    payload = dict(SEED_CREATE, client_id=tenant.client.id, platforms="facebook", post_type="carousel")
    assert_error(run(client, tenant, payload), 400, "validation_error", "post_type")


def test_empty_caption_and_topic_is_400(client, tenant):
    payload = {"action": "create_post", "client_id": tenant.client.id, "platforms": "instagram"}
    assert_error(run(client, tenant, payload), 400, "validation_error", "caption")


def test_negative_metric_is_400(client, tenant):
    post_id = run(client, tenant, dict(SEED_CREATE, client_id=tenant.client.id)).get_json()["post"]["id"]
    payload = {"action": "update_engagement", "post_id": post_id, "likes": -1}
    assert_error(run(client, tenant, payload), 400, "validation_error", "likes")


def test_engagement_without_metrics_is_400(client, tenant):
    post_id = run(client, tenant, dict(SEED_CREATE, client_id=tenant.client.id)).get_json()["post"]["id"]
    assert_error(run(client, tenant, {"action": "update_engagement", "post_id": post_id}), 400, "validation_error")


def test_engagement_for_unknown_post_is_404(client, tenant):
    payload = {"action": "update_engagement", "post_id": 4242, "likes": 1}
    assert_error(run(client, tenant, payload), 404, "not_found", "post_id")


def test_bad_input_leaves_no_rows(client, tenant):
    from herald.db.models import Post

    run(client, tenant, dict(SEED_CREATE, client_id=tenant.client.id, platforms="myspace"))
    run(client, tenant, dict(SEED_CREATE, client_id=tenant.client.id, media=[77]))
    assert Post.select().count() == 0


def test_concurrent_writers_all_succeed(app, tenant):
    """Writers queue on the database lock instead of failing with "database is locked"."""
    from concurrent.futures import ThreadPoolExecutor

    def create(index):
        return app.test_client().post("/api/webhooks", headers=tenant.headers, json=dict(
            SEED_CREATE, client_id=tenant.client.id, topic=f"t{index}")).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(create, range(48)))
    assert statuses == [201] * 48
    from herald.db.models import Post

    assert Post.select().count() == 48


def test_create_post_reads_and_scores_before_taking_the_write_lock(client, tenant, monkeypatch):
    """Only the inserts hold SQLite's single write lock: the client lookup and the score run before."""
    from herald.captions import heuristic
    from herald.db.models import db
    from herald.default_plugins import core_actions
    from herald.publishing import posts

    seen = {}

    def watch(name, function):
        def watched(*args, **kwargs):
            seen.setdefault(name, db.in_transaction())
            return function(*args, **kwargs)
        return watched

    monkeypatch.setattr(core_actions, "get_client", watch("client lookup", core_actions.get_client))
    monkeypatch.setattr(heuristic, "quick_value", watch("score", heuristic.quick_value))
    monkeypatch.setattr(posts, "record_version", watch("version", posts.record_version))
    assert run(client, tenant, dict(SEED_CREATE, client_id=tenant.client.id)).status_code == 201
    assert seen == {"client lookup": False, "score": False, "version": True}


def test_create_post_failing_after_its_first_insert_leaves_nothing(client, tenant, monkeypatch):
    from herald.db.models import Event, Post, PostVersion, db
    from herald.publishing import posts

    def broken(*args, **kwargs):
        raise RuntimeError("event store unavailable")

    monkeypatch.setattr(posts.events, "record", broken)
    assert_error(run(client, tenant, dict(SEED_CREATE, client_id=tenant.client.id)), 500, "internal_error")
    with db.connection_context():
        assert (Post.select().count(), PostVersion.select().count(), Event.select().count()) == (0, 0, 0)
