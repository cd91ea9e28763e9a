"""The GDPR export (``GET /api/account/export``): checked table by table against the database.

Two workspaces fill every table (through the API where it can, as a customer would); each one's
archive must hold exactly its own rows of every table, with secrets redacted and its media files.
"""

from __future__ import annotations

import dataclasses
import io
import json
import zipfile

import peewee as pw
import pytest
from media_store_support import STORES, config_on
from webhooks_drive import create_webhook, work

from conftest import assert_error
from fakes.receiver import Receiver
from herald.auth import create_user
from herald.db.models import (
    Account,
    AIGeneration,
    BackgroundJob,
    BaseModel,
    CompetitorAnalysis,
    DesignTemplate,
    EngagementSnapshot,
    FirstComment,
    GeneratedOpener,
    Media,
    MediaRendition,
    OAuthState,
    Post,
    PublishTask,
    TokenRefresh,
    Workspace,
    WorkspaceValue,
    db,
    set_plugin_enabled,
    utcnow,
)
from herald.events import dispatch_marks
from herald.exports import archive
from herald.media.configured import media_store
from herald.publishing.comments import add_comment

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00\x90wS\xde\x00\x00"
       b"\x00\x0cIDATx\x9cc\xf8\xcf\xc0\x00\x00\x03\x01\x01\x00\xc9\xfe\x92\xef\x00\x00\x00\x00IEND\xaeB`\x82")


class Note(BaseModel):
    """A table a plugin might add later: tied to the workspace only through a post."""

    post = pw.ForeignKeyField(Post, on_delete="CASCADE")
    body = pw.TextField()
    share_token = pw.CharField(null=True)


class Orphan(BaseModel):
    """A global table with no way to a workspace."""

    name = pw.CharField()


@pytest.fixture
def config(config, request):
    """The tests marked ``parametrize("config", STORES, indirect=True)`` run on the local and the S3 store."""
    return config_on(request, config)


@pytest.fixture
def app(build_app):
    return build_app(webhook_allow_private=True)


@pytest.fixture
def extra_tables(app):
    with db.connection_context():
        db.create_tables([Note, Orphan])
    yield
    with db.connection_context():
        db.drop_tables([Note, Orphan])


@dataclasses.dataclass
class Filled:
    tenant: object
    secrets: list[str]
    post_id: int
    media_id: int


def fill(client, tenant, receiver, name: str) -> Filled:
    """Every kind of row for ``tenant``'s workspace; returns the secrets that must never be exported."""
    password = f"correct horse battery {name}"
    with db.connection_context():
        create_user(tenant.workspace.id, f"owner@{name}.example", password, role="owner")
        now = client.application.extensions["herald"].clock.now()
        set_plugin_enabled(tenant.workspace.id, "herald-gemini", False, now)
    login = client.post("/api/login", json={"email": f"owner@{name}.example", "password": password})
    assert login.status_code == 200, login.get_json()
    session_token = login.headers["Set-Cookie"].split("=", 1)[1].split(";", 1)[0]
    client.delete_cookie("herald_session")

    new_key = client.post("/api/keys", json={"name": "zapier", "scopes": ["posts:read"]},
                          headers={**tenant.headers, "Idempotency-Key": f"key-{name}"})
    assert new_key.status_code == 201, new_key.get_json()
    hook = create_webhook(client, tenant, receiver.url(), ["post.created"], secret=SECRET)
    upload = client.post("/api/media", data={"file": (io.BytesIO(PNG), "pixel.png")}, headers=tenant.headers)
    assert upload.status_code == 201, upload.get_json()
    media_id = upload.get_json()["media"]["id"]
    created = client.post("/api/webhooks", headers=tenant.headers, json={
        "action": "create_post", "client_id": tenant.client.id, "caption": f"{name}'s post", "media": [media_id]})
    assert created.status_code == 201, created.get_json()
    post_id = created.get_json()["post"]["id"]
    client.post("/api/webhooks", headers=tenant.headers,
                json={"action": "update_engagement", "post_id": post_id, "likes": 7, "reach": 70})
    campaign = client.post("/api/campaigns", headers=tenant.headers,
                           json={"name": f"{name} launch", "client_id": tenant.client.id})
    assert campaign.status_code == 201, campaign.get_json()
    slots = client.put(f"/v1/clients/{tenant.client.id}/slots", headers=tenant.headers,
                       json={"slots": [{"day": "monday", "time": "09:00"}]})
    assert slots.status_code == 200, slots.get_json()
    gemini_key = f"AIzaSy-{name}-gemini-key-0123456789"
    saved = client.put("/api/settings", headers=tenant.headers, json={"gemini_api_key": gemini_key})
    assert saved.status_code == 200, saved.get_json()
    link = client.post("/api/client-portal/create-token", headers=tenant.headers,
                       json={"client_id": tenant.client.id, "permissions": "comment", "name": f"{name} link"})
    assert link.status_code == 201, link.get_json()
    portal_token = link.get_json()["url"].rsplit("/", 1)[1]
    with db.connection_context():
        add_comment(client.application.extensions["herald"], Post.get_by_id(post_id), f"{name} client",
                    f"{name}'s comment", portal_token_id=link.get_json()["id"])
        account = Account.create(workspace=tenant.workspace.id, platform="instagram", external_id=name,
                                 username=name, token_encrypted=f"ciphertext-of-{name}",
                                 settings={"login": "facebook", "page_access_token": f"page-token-{name}"})
        task = PublishTask.create(workspace=tenant.workspace.id, post=post_id, account=account, platform="instagram",
                                  status="failed", error="nope", state={"container_id": "c1"})
        FirstComment.create(task=task, workspace=tenant.workspace.id, text=f"{name}'s first comment", status="failed",
                            error="refused")
        TokenRefresh.create(account=account, workspace=tenant.workspace.id, status="done")
        OAuthState.create(workspace=tenant.workspace.id, nonce=f"nonce-{name}", platform="instagram",
                          code_verifier_encrypted=f"verifier-ciphertext-of-{name}", expires_at=utcnow())
        Note.create(post=post_id, body=f"{name}'s note", share_token=f"share-{name}")
        workspace_id, client_id = tenant.workspace.id, tenant.client.id
        AIGeneration.create(workspace=workspace_id, client=client_id, feature="populate_hooks", provider="gemini",
                            model="gemini-flash-latest", input_tokens=900, output_tokens=700, status="succeeded")
        job = BackgroundJob.create(id=f"job_{name}", workspace=workspace_id, kind="populate_hooks",
                                   params={"client_id": client_id},
                                   status="succeeded", result={"created": 1})
        GeneratedOpener.create(workspace=workspace_id, client=client_id, text=f"{name}'s hook", style="question",
                             fingerprint=f"fp-{name}", job=job)
        CompetitorAnalysis.create(workspace=workspace_id, client=client_id, url=f"https://{name}.example/",
                                  title=name, analysis={"tone": "warm"}, job=job)
        MediaRendition.create(media=media_id, recipe="image/jpeg", content_type="image/jpeg",
                              path=f"renditions/{name}.jpg", size=1, sha256="0" * 64, width=1, height=1)
        DesignTemplate.create(workspace=workspace_id, media=media_id, palette=[{"hex": "#112233"}],
                              template={"layout": "split"}, job=job)
        gemini_ciphertext = WorkspaceValue.get((WorkspaceValue.workspace == workspace_id)
                                               & (WorkspaceValue.name == "api_key")).value_encrypted
        Orphan.create(name=f"global row from {name}")
    return Filled(tenant, [tenant.key, new_key.get_json()["key"], password, session_token, SECRET,
                           f"ciphertext-of-{name}", f"page-token-{name}", f"share-{name}", hook["secret"],
                           portal_token, gemini_key, gemini_ciphertext],
                  post_id, media_id)


def export(client, tenant) -> zipfile.ZipFile:
    response = client.get("/api/account/export", headers=tenant.headers)
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    assert response.is_streamed and response.mimetype == "application/zip"
    assert response.headers["Content-Disposition"].startswith(
        f'attachment; filename="herald-account-{tenant.workspace.id}-')
    data = response.get_data()
    return zipfile.ZipFile(io.BytesIO(data)), data


def table_rows(zipped: zipfile.ZipFile, table: str) -> list[dict]:
    return [json.loads(line) for line in zipped.read(f"tables/{table}.jsonl").decode().splitlines()]


def database_rows(plan: archive.TablePlan) -> list[dict]:
    """Every row of the plan's table, as the archive writes rows (before redaction)."""
    query = plan.model.select(*plan.fields).order_by(plan.model._meta.primary_key).tuples()
    return [{field.column_name: archive.json_value(value) for field, value in zip(plan.fields, values, strict=True)}
            for values in query]


@pytest.mark.parametrize("config", STORES, indirect=True)
def test_archive_holds_exactly_each_workspaces_rows_of_every_table(client, make_tenant, extra_tables, redis_client):
    with Receiver() as receiver:
        first = fill(client, make_tenant("First"), receiver, "first")
        second = fill(client, make_tenant("Second"), receiver, "second")
        assert work(redis_client) >= 2  # webhook deliveries and attempts
    # The dispatched marks the requests deferred (herald.events.dispatch_marks) are written by a timer:
    # written now, so none lands between an archive and the rows it is compared with.
    dispatch_marks.write_owed()
    archives = {}
    for filled in (first, second):
        archives[filled.tenant.workspace.id] = export(client, filled.tenant)

    with db.connection_context():
        plans, skipped = archive.plan_tables()
        for name in ("herald_schema_migration", "orphan"):
            assert name in {entry["table"] for entry in skipped}
        exported = {plan.table for plan in plans}
        every_table = set(db.get_tables())
        assert exported | {entry["table"] for entry in skipped} == every_table
        assert {"workspace", "users", "api_key", "user_session", "client", "media", "post", "post_version",
                "engagement_snapshot", "plugin_setting", "event", "account", "publish_task", "idempotency_record",
                "webhook_endpoint", "webhook_delivery", "webhook_attempt", "note", "portal_token",
                "post_comment", "campaign", "workspace_value", "ai_generation", "background_job", "generated_hook",
                "competitor_analysis", "design_template", "posting_slot", "token_refresh"} <= exported

        for plan in plans:
            everything = database_rows(plan)
            assert everything, f"the test filled no row of {plan.table}"
            seen = []
            key = plan.model._meta.primary_key.column_name
            by_key = {row[key]: row for row in everything}
            for zipped, _ in archives.values():
                rows = table_rows(zipped, plan.table)
                manifest = json.loads(zipped.read("manifest.json"))
                entry = next(item for item in manifest["tables"] if item["table"] == plan.table)
                assert entry["rows"] == len(rows)
                assert entry["redacted"] == plan.redacted
                own = [row[key] for row in rows]
                assert set(own).isdisjoint(seen), f"{plan.table}: a row is in both archives"
                seen.extend(own)
                for row in rows:
                    original = by_key[row[key]]
                    assert set(row) == set(original)
                    for column, value in row.items():
                        if column in plan.redacted:
                            expected = None if original[column] is None else "[redacted]"
                        else:
                            expected = archive.redact_json(original[column])
                        assert value == expected, (plan.table, column, value, original[column])
            # Every row of every table is in exactly one workspace's archive.
            assert sorted(seen) == sorted(row[key] for row in everything), plan.table

        # Tables tied to the workspace directly: the rows are exactly WHERE workspace_id = ?
        for plan in plans:
            if "workspace" in plan.model._meta.fields:
                for workspace_id, (zipped, _) in archives.items():
                    expected = {row.id for row in plan.model.select(plan.model.id)
                                .where(plan.model.workspace == workspace_id)}
                    assert {row["id"] for row in table_rows(zipped, plan.table)} == expected, plan.table

    zipped, raw = archives[first.tenant.workspace.id]
    assert [row["body"] for row in table_rows(zipped, "note")] == ["first's note"]
    assert [row["share_token"] for row in table_rows(zipped, "note")] == ["[redacted]"]
    assert [row["caption"] for row in table_rows(zipped, "post")] == ["first's post"]
    assert [(row["likes"], row["reach"]) for row in table_rows(zipped, "engagement_snapshot")] == [(7, 70)]
    assert table_rows(zipped, "account")[0]["settings"] == {"login": "facebook", "page_access_token": "[redacted]"}
    assert table_rows(zipped, "account")[0]["token_encrypted"] == "[redacted]"
    assert {row["digest"] for row in table_rows(zipped, "api_key")} == {"[redacted]"}
    assert [row["response_body"] for row in table_rows(zipped, "idempotency_record")] == ["[redacted]"]
    assert [row["password_hash"] for row in table_rows(zipped, "users")] == ["[redacted]"]
    assert table_rows(zipped, "workspace") == [{"id": first.tenant.workspace.id, "name": "First", "plan": "free",
                                               "settings": {}, "created_at": table_rows(zipped, "workspace")[0][
                                                   "created_at"]}]
    manifest = json.loads(zipped.read("manifest.json"))
    assert manifest["format"] == "herald-account-export" and manifest["version"] == 1
    assert manifest["workspace"] == {"id": first.tenant.workspace.id, "name": "First"}
    note = next(item for item in manifest["tables"] if item["table"] == "note")
    assert note["scope"] == "note.post_id → post.workspace_id"
    assert note["model"].endswith("test_account_export.Note")

    with db.connection_context():
        stored = Media.get_by_id(first.media_id)
    assert zipped.read(f"media/{stored.path}") == PNG
    assert manifest["media"] == {"files": 1, "bytes": len(PNG), "missing_media_ids": []}
    assert [name for name in zipped.namelist() if name.startswith("media/")] == [f"media/{stored.path}"]

    for filled in (first, second):
        for secret in filled.secrets:
            assert secret.encode() not in raw, secret
    assert b"second's post" not in raw and b"second's note" not in raw and b"global row" not in raw


@pytest.mark.parametrize("config", STORES, indirect=True)
def test_a_missing_media_file_is_reported_not_fatal(client, tenant, config, app):
    upload = client.post("/api/media", data={"file": (io.BytesIO(PNG), "pixel.png")}, headers=tenant.headers)
    media_id = upload.get_json()["media"]["id"]
    with db.connection_context():
        media_store(app.extensions["herald"].config).delete(Media.get_by_id(media_id).path)
    zipped, _ = export(client, tenant)
    manifest = json.loads(zipped.read("manifest.json"))
    assert manifest["media"] == {"files": 0, "bytes": 0, "missing_media_ids": [media_id]}
    assert [row["id"] for row in table_rows(zipped, "media")] == [media_id]


def test_account_export_needs_the_admin_scope(client, make_tenant):
    editor = make_tenant("Editors", scopes=["posts:read", "posts:write"])
    assert_error(client.get("/api/account/export", headers=editor.headers), 403, "forbidden")
    assert_error(client.get("/api/account/export"), 401, "unauthorized")


def test_secret_names_follow_the_rule():
    secret = ["digest", "password_hash", "token_encrypted", "secret_encrypted", "previous_secret_encrypted",
              "api_key", "refresh_token", "client_secret", "key"]
    plain = ["token_expires_at", "sha256", "display", "keyword", "tokens_used", "previous_secret_expires_at",
             "status", "hashtags"]
    assert [name for name in secret if not archive.is_secret_name(name)] == []
    assert [name for name in plain if archive.is_secret_name(name)] == []
    assert archive.redact_json({"a": [{"access_token": "x", "n": 1}], "api_key": None}) == {
        "a": [{"access_token": "[redacted]", "n": 1}], "api_key": None}


def test_a_table_larger_than_a_batch_is_read_in_pages_in_key_order(client, tenant, monkeypatch):
    monkeypatch.setattr(archive, "BATCH", 3)
    with db.connection_context():
        post = Post.create(workspace=tenant.workspace.id, client=tenant.client.id, caption="x")
        EngagementSnapshot.insert_many([{"post": post.id, "likes": n, "recorded_at": utcnow()}
                                        for n in range(10)]).execute()
        assert Workspace.select().count() == 1
    zipped, _ = export(client, tenant)
    assert [row["likes"] for row in table_rows(zipped, "engagement_snapshot")] == list(range(10))
