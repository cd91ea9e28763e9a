"""One post with an image to every platform Herald ships, each through its plugin and its fake
(issue 24): Instagram and Facebook (the fake Graph API), Threads, Bluesky, Mastodon and LinkedIn
(each plugin's own fake, from its tests folder). A first comment goes under every post whose platform
takes replies, Bluesky gets its own shorter text, and the engagement pull reads each platform back."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from graph_drive import upload_jpeg

from conftest import start_app, with_changes
from drive import work
from fakes.graph import IG_TOKEN, IG_USER_ID, PAGE_ID, PAGE_TOKEN, FakeGraph
from herald.db.models import db
from herald.work.queue import get_queue

PLUGINS = Path(__file__).resolve().parents[1] / "plugins"
for name in ("threads", "bluesky", "mastodon", "linkedin"):
    sys.path.insert(0, str(PLUGINS / name / "tests"))

import fake_bluesky  # noqa: E402 (the plugins' fakes live beside their tests)
import fake_linkedin  # noqa: E402
import fake_mastodon  # noqa: E402
import fake_threads  # noqa: E402

CONTENT = ("Our spring menu is here: wild garlic soup, rhubarb tart and three new loaves, baked every morning "
           "from seven. Come early on Saturday for the first rye of the season.")
SHORT = "Spring menu: wild garlic soup, rhubarb tart, three new loaves. Saturday: the first rye of the season."
COMMENT = "Table bookings: 0161 555 0100"


@pytest.fixture
def fakes(clock):
    started = {"graph": FakeGraph(), "threads": fake_threads.FakeThreads(), "bluesky": fake_bluesky.FakeBluesky(),
               "mastodon": fake_mastodon.FakeMastodon(),
               "linkedin": fake_linkedin.FakeLinkedIn(clock=clock.timestamp),
               "media_host": fake_mastodon.HeraldMediaHost()}
    for fake in started.values():
        fake.start()
    yield started
    for fake in started.values():
        fake.stop()


@pytest.fixture
def app(clock, config, fakes):
    settings = {**fakes["graph"].hosts(), **fakes["threads"].hosts(), **fake_bluesky.settings(fakes["bluesky"]),
                **fake_mastodon.SETTINGS, **fake_linkedin.settings(fakes["linkedin"])}
    # Herald's public media links on loopback: the plugins that upload files fetch them from there.
    application = start_app(clock, with_changes(config, public_url=fakes["media_host"].url, **settings))
    fakes["media_host"].app = application
    yield application
    db.obj.close_all()


def connect(client, tenant, body) -> str:
    answer = client.post("/v1/accounts", json=body, headers=tenant.headers)
    assert answer.status_code == 201, answer.get_json()
    return answer.get_json()["id"]


def test_one_post_reaches_every_platform_with_its_first_comment_and_engagement(client, tenant, fakes,
                                                                              redis_client):
    accounts = {
        "instagram": connect(client, tenant, {"platform": "instagram", "access_token": IG_TOKEN}),
        "facebook": connect(client, tenant, {"platform": "facebook", "access_token": PAGE_TOKEN}),
        "threads": connect(client, tenant, fake_threads.CONNECT),
        "bluesky": connect(client, tenant, fake_bluesky.connect_body()),
        "mastodon": connect(client, tenant, fake_mastodon.connect_request(fakes["mastodon"])),
        "linkedin": connect(client, tenant, fake_linkedin.CONNECT),
    }
    media = upload_jpeg(client, tenant)
    client.patch(f"/api/media/{media}", json={"alt_text": "Three loaves on a board"}, headers=tenant.headers)
    body = {"content": CONTENT, "accounts": list(accounts.values()), "media": [f"media_{media}"],
            "first_comment": COMMENT, "client_id": tenant.client.id,
            "variants": {"bluesky": {"content": SHORT}}}
    dry = client.post("/v1/publish", json={**body, "dry_run": True}, headers=tenant.headers)
    assert dry.status_code == 200, dry.get_json()
    answer = client.post("/v1/publish", json=body, headers=tenant.headers)
    assert answer.status_code == 201, answer.get_json()
    post_id = answer.get_json()["id"]
    for _ in range(5):  # publish, then the first comments (and a container check where a platform needs one)
        work(redis_client)
    post = client.get(f"/v1/posts/{post_id}", headers=tenant.headers).get_json()
    assert post["status"] == "published", [(task["platform"], task["status"], task["error"]) for task in post["tasks"]]
    tasks = {task["platform"]: task for task in post["tasks"]}
    assert set(tasks) == set(accounts)
    for platform, task in tasks.items():
        assert task["status"] == "published" and task["platform_post_id"], task
        assert task["first_comment"]["status"] == "posted", (platform, task["first_comment"])
    assert post["texts"]["bluesky"] == SHORT and post["texts"]["mastodon"] == CONTENT

    graph, threads, bluesky = fakes["graph"], fakes["threads"], fakes["bluesky"]
    mastodon, linkedin = fakes["mastodon"], fakes["linkedin"]
    [instagram_post] = graph.published(IG_USER_ID)
    [page_post] = graph.published(PAGE_ID)
    [thread] = threads.published()
    [skeet] = bluesky.posts()
    [status] = mastodon.published()
    [share] = linkedin.posts_of()
    assert instagram_post["caption"] == CONTENT and page_post["message"] == CONTENT
    assert thread["text"] == CONTENT and status["content"].count("wild garlic") == 1
    assert skeet["value"]["text"] == SHORT
    assert skeet["value"]["embed"]["images"][0]["alt"] == "Three loaves on a board"
    # Every first comment once, under its post.
    assert [row["message"] for row in graph.comments(instagram_post["id"])] == [COMMENT]
    assert [row["message"] for row in graph.comments(page_post["id"])] == [COMMENT]
    assert [row["text"] for row in threads.replies_of(thread["id"])] == [COMMENT]
    assert [row["value"]["text"] for row in bluesky.replies()] == [COMMENT]
    assert len(mastodon.replies(status["id"])) == 1
    assert len(linkedin.comments_of(share["id"])) == 1

    # People react; the periodic pull reads each platform's figures back.
    graph.set_metrics(instagram_post["id"], like_count=11, comments_count=1, reach=100)
    graph.set_metrics(page_post["id"], reactions=12, comments=1, shares=0, post_total_media_view_unique=100)
    threads.set_insights(thread["id"], likes=13, replies=1, views=100)
    bluesky.engage(skeet["uri"], likes=14, replies=1)
    with mastodon._lock:
        mastodon.statuses[status["id"]]["favourites_count"] = 15
    linkedin.engage(share["id"], likeCount=16, commentCount=1, impressionCount=100)
    get_queue(redis_client).enqueue("herald.chores.pull_engagement")
    work(redis_client)
    engagement = client.get(f"/v1/posts/{post_id}/engagement", headers=tenant.headers)
    assert engagement.status_code == 200, engagement.get_json()
    likes = {row["platform"]: row["latest"]["likes"] for row in engagement.get_json()["platforms"]}
    assert likes == {"instagram": 11, "facebook": 12, "threads": 13, "bluesky": 14, "mastodon": 15,
                     "linkedin": 16}, engagement.get_json()
