"""Cross-posting (issue 24): each platform's own text and options (``variants``), checked against that
platform's rules by the dry run, the real request, an edit and the worker, and handed to it alone;
and a media file's alt text handed to every platform."""

from __future__ import annotations

import datetime as dt

import pytest
from portal_support import card_of, make_link, upload_png

from conftest import assert_error
from drive import work
from herald import hookimpl
from herald.db.models import isoformat, utcnow
from herald.post_rules import MediaRule, PostRules
from scripted_platform import ScriptedPlatform

LATER = isoformat(utcnow().replace(microsecond=0) + dt.timedelta(days=30))
SHORT = "Fresh bread at 7"
LONG = "Fresh sourdough, rye and brioche from 7 every morning at the corner of Mill Street and Vine"


class Tight(ScriptedPlatform):
    """A platform taking 30 characters and one option, ``visibility``; it keeps every post it is handed."""

    name = "tight"
    options_schema = {"type": "object", "additionalProperties": False,
                      "properties": {"visibility": {"enum": ["public", "unlisted"]},
                                     "spoiler_text": {"type": "string", "maxLength": 10}}}

    def __init__(self):
        super().__init__()
        self.handed = []

    def rules(self, post):
        return PostRules(max_caption=30, max_media=4, image=MediaRule(content_types=("image/png", "image/jpeg")))

    def publish(self, ctx):
        self.handed.append(ctx.post)
        return super().publish(ctx)


class Roomy(Tight):
    """A platform taking 500 characters and no options."""

    name = "roomy"
    options_schema = None

    def rules(self, post):
        return PostRules(max_caption=500)


class TwoPlatforms:
    def __init__(self):
        self.tight, self.roomy = Tight(), Roomy()

    @hookimpl
    def register_platforms(self, register):
        register(self.tight)
        register(self.roomy)


@pytest.fixture
def plugin(register_plugin):
    return register_plugin(TwoPlatforms(), "two")


@pytest.fixture
def app(build_app, plugin):
    return build_app(public_url="https://herald.test")


def connect(client, tenant, token, platform):
    response = client.post("/v1/accounts", json={"platform": platform, "access_token": token}, headers=tenant.headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


@pytest.fixture
def accounts(client, tenant):
    return [connect(client, tenant, "tok_live_aaaa", platform="tight"),
            connect(client, tenant, "tok_live_bbbb", platform="roomy")]


def publish(client, tenant, accounts, **body):
    return client.post("/v1/publish", headers=tenant.headers, json={"accounts": accounts, **body})


def test_each_platform_publishes_its_own_text_and_options(client, tenant, plugin, accounts, redis_client):
    variants = {"tight": {"content": SHORT, "options": {"visibility": "unlisted"}}}
    dry = publish(client, tenant, accounts, content=LONG, variants=variants, dry_run=True)
    assert dry.status_code == 200, dry.get_json()
    answer = publish(client, tenant, accounts, content=LONG, variants=variants)
    assert answer.status_code == 201, answer.get_json()
    work(redis_client)
    [tight], [roomy] = plugin.tight.handed, plugin.roomy.handed
    assert (tight.caption, dict(tight.options)) == (SHORT, {"visibility": "unlisted"})
    assert (roomy.caption, dict(roomy.options)) == (LONG, {})
    post = client.get(f"/v1/posts/{answer.get_json()['id']}", headers=tenant.headers).get_json()
    assert post["status"] == "published"
    assert post["variants"] == variants
    assert post["texts"] == {"tight": SHORT, "roomy": LONG}


def test_a_platform_is_checked_against_its_own_text(client, tenant, accounts):
    # Too long for tight, and no variant: the error names the content, in the dry run and for real.
    for dry_run in (True, False):
        assert_error(publish(client, tenant, accounts, content=LONG, dry_run=dry_run), 400, "validation_error",
                     field="content")
    # The variant is too long: the error names it.
    too_long = {"tight": {"content": LONG}}
    for dry_run in (True, False):
        answer = publish(client, tenant, accounts, content=SHORT, variants=too_long, dry_run=dry_run)
        assert_error(answer, 400, "validation_error", field="variants.tight.content")
        assert "30 characters" in answer.get_json()["error"]["message"]


def test_variants_name_installed_platforms_and_their_declared_options(client, tenant, accounts):
    cases = [({"nowhere": {"content": "x"}}, "variants.nowhere"),
             ({"roomy": {"options": {"visibility": "public"}}}, "variants.roomy.options"),
             ({"tight": {"options": {"visibility": "secret"}}}, "variants.tight.options.visibility"),
             ({"tight": {"options": {"colour": "red"}}}, "variants.tight.options.colour"),
             ({"tight": {"text": "x"}}, "variants.tight.text")]
    for variants, field in cases:
        answer = publish(client, tenant, accounts, content=SHORT, variants=variants)
        assert_error(answer, 400, "validation_error", field=field)


def test_an_edit_changes_variants_checked_again_and_versioned(client, tenant, plugin, accounts, redis_client):
    post_id = publish(client, tenant, accounts, content=SHORT, schedule=LATER).get_json()["id"]
    refused = client.patch(f"/v1/posts/{post_id}", headers=tenant.headers,
                           json={"variants": {"tight": {"content": LONG}}})
    assert_error(refused, 400, "validation_error", field="variants.tight.content")
    changed = client.patch(f"/v1/posts/{post_id}", headers=tenant.headers,
                           json={"content": LONG, "variants": {"tight": {"content": "Bread at 7"}}})
    assert changed.status_code == 200, changed.get_json()
    assert changed.get_json()["texts"] == {"tight": "Bread at 7", "roomy": LONG}
    number = post_id.removeprefix("post_")
    [last] = client.get(f"/api/posts/{number}/versions", headers=tenant.headers).get_json()["versions"][-1:]
    assert last["changes"]["variants"] == {"before": None, "after": {"tight": {"content": "Bread at 7"}}}
    # Removing the variant leaves the long content for tight: refused, the post stays as it was.
    cleared = client.patch(f"/v1/posts/{post_id}", headers=tenant.headers, json={"variants": None})
    assert_error(cleared, 400, "validation_error", field="content")


def test_drafts_keep_variants_until_they_are_published(client, tenant, plugin, accounts, redis_client):
    created = client.post("/api/webhooks", headers=tenant.headers, json={
        "action": "create_post", "client_id": tenant.client.id, "caption": LONG,
        "variants": {"tight": {"content": SHORT}}})
    assert created.status_code == 201, created.get_json()
    draft = created.get_json()["post"]
    assert draft["variants"] == {"tight": {"content": SHORT}}
    answer = publish(client, tenant, accounts, post_id=draft["id"])
    assert answer.status_code == 201, answer.get_json()
    work(redis_client)
    assert [post.caption for post in plugin.tight.handed] == [SHORT]


def test_alt_text_reaches_the_platform(client, tenant, plugin, accounts, redis_client):
    number = upload_png(client, tenant)
    media = f"media_{number}"
    described = client.patch(f"/api/media/{number}", headers=tenant.headers,
                             json={"alt_text": "A loaf of rye on a wooden board"})
    assert described.status_code == 200, described.get_json()
    assert described.get_json()["media"]["alt_text"] == "A loaf of rye on a wooden board"
    assert_error(client.patch(f"/api/media/{number}", headers=tenant.headers, json={"alt_text": "x" * 1501}),
                 400, "validation_error", field="alt_text")
    answer = publish(client, tenant, accounts[:1], content=SHORT, media=[media])
    assert answer.status_code == 201, answer.get_json()
    work(redis_client)
    [post] = plugin.tight.handed
    assert post.media[0].alt_text == "A loaf of rye on a wooden board"


def test_the_platforms_list_says_what_each_takes(client, tenant):
    answer = client.get("/v1/platforms", headers=tenant.headers)
    assert answer.status_code == 200, answer.get_json()
    platforms = {row["name"]: row for row in answer.get_json()["platforms"]}
    assert platforms["tight"]["options_schema"] == Tight.options_schema
    assert platforms["roomy"]["options_schema"] is None
    assert platforms["tight"]["plugin"] == "two" and platforms["tight"]["enabled"] is True
    assert platforms["tight"]["connect"] == {"kind": "token", "oauth": False, "fields": []}


def test_the_portal_shows_each_platforms_own_text(client, tenant, accounts):
    post = publish(client, tenant, accounts, content=LONG, schedule=LATER, client_id=tenant.client.id,
                   variants={"tight": {"content": SHORT}, "roomy": {"content": LONG}}).get_json()
    _, path = make_link(client, tenant, "view")
    html = client.get(path).get_data(as_text=True)
    card = card_of(html, int(post["id"].removeprefix("post_")))
    assert LONG in card and 'class="variant" data-platform="tight"' in card
    assert f'On Tight:</span>\n    <p class="caption">{SHORT}' in card
    assert 'class="variant" data-platform="roomy"' not in card  # the same text as the post's: not repeated
