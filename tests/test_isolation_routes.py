"""Every route, called by another workspace with the first one's ids: a 404, nothing of the first
workspace in any answer, and nothing of it changed.

Workspace A gets data of every kind (a post, an account, media, a campaign, a comment, a webhook
endpoint and its delivery, a portal link, an API key, AI results), every text of it holding
:data:`CANARY`. Workspace B, with a key holding every scope, then calls every route of the URL map
that takes an id in its path with A's ids, and the routes that take ids in their body or query with
A's ids where B's own are accepted (each such call is first made with B's ids, to show the refusal
comes from the id and not from something else wrong in the request). The routes come from the URL
map, so a route added later without an entry here fails :func:`test_every_route_with_an_id_is_covered`.
"""

from __future__ import annotations

import dataclasses
import io
import json
import zipfile

import media_samples
import pytest
import route_paths
from app_support import login, make_user
from portal_support import later

from herald.db.models import (
    BackgroundJob,
    BaseModel,
    CompetitorAnalysis,
    DesignTemplate,
    GeneratedOpener,
    Post,
    db,
)
from herald.events import dispatch_marks
from herald.portal import links as portal
from herald_webhooks.models import ATTEMPT_PREFIX, DELIVERY_PREFIX, WebhookAttempt, WebhookDelivery

CANARY = "canary-a7f3"
LATER = later(40)  # a time to schedule for

# Path parameters that do not name a workspace's data: B's own setting, a signed file link (the link
# itself is the capability, checked in test_public_media), the static files.
NOT_WORKSPACE_DATA = {"/api/admin/plugins/<name>", "/app/integrations/plugins/<name>", "/media/<token>/<path:filename>",
                      "/static/<path:filename>",
                      "/v1/accounts/callback/<platform>"}  # no key: its signed state names the workspace

# The body of each call that changes something, so that a refusal cannot come from the body.
BODIES = {
    ("PATCH", "/api/campaigns/<int:campaign_id>"): {"name": "hijacked"},
    ("PATCH", "/api/clients/<int:client_id>"): {"name": "hijacked"},
    ("PATCH", "/api/media/<int:media_id>"): {"alt_text": "hijacked"},
    ("PUT", "/v1/clients/<int:client_id>/slots"): {"slots": [{"day": "monday", "time": "03:33"}]},
    ("POST", "/api/posts/<post_id>/versions/<int:number>/restore"): {},
    ("PATCH", "/v1/posts/<post_id>"): {"schedule": LATER, "content": "hijacked"},
    ("POST", "/v1/posts/<post_id>/approve"): {"note": "hijacked"},
    ("POST", "/v1/posts/<post_id>/request-approval"): {"note": "hijacked"},
    ("POST", "/v1/posts/<post_id>/reject"): {"note": "hijacked"},
    ("POST", "/v1/posts/<post_id>/tasks/<task_id>/resolve"): {"outcome": "send_again"},
    ("POST", "/v1/posts/<post_id>/retry"): {},
    ("POST", "/v1/posts/<post_id>/comments"): {"body": "hijacked"},
    ("PATCH", "/v1/webhooks/<webhook_id>"): {"active": False},
    ("POST", "/v1/webhooks/<webhook_id>/rotate-secret"): {},
    ("POST", "/v1/webhooks/<webhook_id>/test"): {},
    ("POST", "/v1/webhooks/deliveries/<delivery_id>/redeliver"): {},
}


@dataclasses.dataclass
class Ids:
    """One workspace's data, as the API names it."""

    client: int
    post: str  # post_N
    task: str  # task_N, the post's task
    account: str
    media: int
    campaign: int
    draft: int  # a post from the action endpoint, not queued yet
    webhook: str
    delivery: str
    attempt: str  # an attempt of ``delivery``: the delivery log's id, which re-sends it too
    portal_token: str
    portal_token_id: int
    key_id: int
    job: str
    template: int
    analysis: int

    @property
    def post_number(self) -> int:
        return int(self.post.removeprefix("post_"))


def ok(response, *statuses: int) -> dict:
    assert response.status_code in (statuses or (200, 201, 202)), (response.status_code, response.get_data(True))
    return response.get_json()


def build_world(client, tenant, text: str) -> Ids:
    """Data of every kind for ``tenant``, each text holding ``text``; its ids."""
    headers = tenant.headers
    account = ok(client.post("/v1/accounts", json={"platform": "scripted", "access_token": f"tok_live_{text}"},
                             headers=headers))["id"]
    media = ok(client.post("/api/media", headers=headers, content_type="multipart/form-data",
                           data={"file": (io.BytesIO(media_samples.png()), f"{text}.png", "image/png")}))["media"]["id"]
    campaign = ok(client.post("/api/campaigns", json={"name": text, "client_id": tenant.client.id, "goal": text},
                              headers=headers))["campaign"]["id"]
    published = ok(client.post("/v1/publish", headers=headers, json={
        "content": f"{text} launch", "accounts": [account], "media": [media], "client_id": tenant.client.id,
        "campaign_id": campaign, "schedule": later(30)}))
    post, [task] = published["id"], [task["id"] for task in published["tasks"]]
    ok(client.post(f"/v1/posts/{post}/comments", json={"body": f"{text} remark"}, headers=headers))
    ok(client.put(f"/v1/clients/{tenant.client.id}/slots", json={"slots": [
        {"day": "friday", "time": "09:00"}, {"day": "friday", "time": "10:00", "account": account}]}, headers=headers))
    draft = ok(client.post("/api/webhooks", headers=headers, json={
        "action": "create_post", "client_id": tenant.client.id, "caption": f"{text} draft"}))["post"]["id"]
    webhook = ok(client.post("/v1/webhooks", headers=headers, json={
        "url": f"https://hooks.example.com/{text}", "events": ["post.created"]}))["id"]
    delivery = ok(client.post(f"/v1/webhooks/{webhook}/test", json={}, headers=headers))["id"]
    link = ok(client.post("/api/client-portal/create-token", headers=headers, json={
        "client_id": tenant.client.id, "permissions": "approve", "name": text}))
    key_id = ok(client.post("/api/keys", json={"name": text, "scopes": ["posts:read"]},
                            headers=headers))["api_key"]["id"]
    with db.connection_context():
        job = BackgroundJob.create(id=f"job_of_workspace_{tenant.workspace.id}", workspace=tenant.workspace.id,
                                   kind="analyze_competitor",
                                   params={"url": text}, status="succeeded", result={"text": text})
        template = DesignTemplate.create(workspace=tenant.workspace.id, media=media, client=tenant.client.id,
                                         palette=[text], template={"name": text}, job=job.id)
        analysis = CompetitorAnalysis.create(workspace=tenant.workspace.id, client=tenant.client.id,
                                             url=f"https://{text}.example.com", title=text,
                                             analysis={"summary": text}, job=job.id)
        GeneratedOpener.create(workspace=tenant.workspace.id, client=tenant.client.id, text=text, style="question",
                             fingerprint=text)
        number = int(delivery.removeprefix(DELIVERY_PREFIX))  # as a worker records it (no request leaves here)
        attempt = WebhookAttempt.create(workspace=tenant.workspace.id, delivery=number, number=1, trigger="manual",
                                        endpoint=WebhookDelivery.get_by_id(number).endpoint_id, status_code=500,
                                        response=text)
    return Ids(client=tenant.client.id, post=post, task=task, account=account, media=media, campaign=campaign,
               draft=draft, webhook=webhook, delivery=delivery, attempt=f"{ATTEMPT_PREFIX}{attempt.id}",
               portal_token=link["url"].rsplit("/portal/", 1)[1], portal_token_id=link["id"], key_id=key_id,
               job=job.id, template=template.id, analysis=analysis.id)


def path_values(ids: Ids) -> dict[str, list[str]]:
    """The values each path parameter takes for ``ids`` (posts and deliveries by both of their names)."""
    return {"client_id": [str(ids.client)], "post_id": [ids.post, str(ids.post_number)],
            "task_id": [ids.task],
            "campaign_id": [str(ids.campaign)], "media_id": [str(ids.media)], "account_id": [ids.account],
            "webhook_id": [ids.webhook], "delivery_id": [ids.delivery, ids.attempt],
            "token_id": [str(ids.portal_token_id)],
            "key_id": [str(ids.key_id)], "job_id": [ids.job], "template_id": [str(ids.template)],
            "analysis_id": [str(ids.analysis)], "number": ["1"]}


def all_models() -> list[type[BaseModel]]:
    """The model of every table in the database, the plugins' too (webhook endpoints, deliveries); not
    those of throwaway plugins other tests defined, whose tables this database does not have."""
    tables = set(db.get_tables())
    found, pending = [], [BaseModel]
    while pending:
        for model in pending.pop().__subclasses__():
            found.append(model)
            pending.append(model)
    return sorted({model for model in found if model._meta.table_name in tables}, key=lambda model: model.__name__)


def snapshot(workspace_id: int) -> str:
    """Every row of every table that belongs to the workspace (directly, or through one of its posts)."""
    # Dispatched marks this process still owes would otherwise land mid-test from their timer.
    dispatch_marks.write_owed()
    rows = {}
    with db.connection_context():
        posts = [post.id for post in Post.select(Post.id).where(Post.workspace == workspace_id)]
        for model in all_models():
            fields = model._meta.fields
            if "workspace" in fields:
                query = model.select().where(fields["workspace"] == workspace_id)
            elif "post" in fields:
                query = model.select().where(fields["post"].in_(posts))
            else:
                continue
            rows[model.__name__] = sorted(json.dumps(row, default=str, sort_keys=True) for row in query.dicts())
    return json.dumps(rows, sort_keys=True)


@pytest.fixture
def app(build_app, plugin):
    """The application, with the scripted platform installed (for A's account)."""
    return build_app(rate_limit="1000000/minute", public_url="https://herald.example.com")


@pytest.fixture
def world(app, client, make_tenant):
    first, second = make_tenant("First Agency"), make_tenant("Second Agency")
    return first, build_world(client, first, CANARY), second, build_world(client, second, "second-b")


def id_routes(app):
    return sorted((rule for rule in app.url_map.iter_rules() if "<" in rule.rule), key=lambda rule: rule.rule)


def test_every_route_with_an_id_is_covered(app, world):
    _, first_ids, _, _ = world
    known = set(path_values(first_ids)) | {"token"}
    for rule in id_routes(app):
        if rule.rule in NOT_WORKSPACE_DATA:
            continue
        assert set(rule.arguments) <= known, f"{rule.rule}: add its parameters to path_values"
        for method in rule.methods - {"HEAD", "OPTIONS", "GET", "DELETE"}:
            if not rule.rule.startswith(("/portal/", "/app/")):  # pages' forms: see the test below
                assert (method, rule.rule) in BODIES, f"{method} {rule.rule}: add a body to BODIES"


def test_another_workspaces_ids_in_a_path_are_404_and_change_nothing(app, client, world):
    first, first_ids, second, second_ids = world
    before = snapshot(first.workspace.id)
    secret = app.config["SECRET_KEY"]
    page_client = app.test_client()
    app_csrf = login(page_client, make_user(app, second, "owner"))  # B's owner, on the /app pages
    calls = 0
    for rule in id_routes(app):
        if rule.rule in NOT_WORKSPACE_DATA:
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            for path in concrete(rule.rule, path_values(first_ids), second_ids.portal_token):
                if rule.rule.startswith("/portal/"):  # B's link, A's post: with a valid form, as the page sends
                    data = {"csrf": portal.csrf_token(secret, second_ids.portal_token), "note": "hijacked",
                            "body": "hijacked"} if method == "POST" else None
                    response = client.open(path, method=method, data=data, headers={"Origin": "http://localhost"})
                    if rule.rule == "/portal/<token>":
                        assert response.status_code == 200  # B's own page
                    else:
                        assert response.status_code == 404, (method, path, response.status_code)
                elif rule.rule.startswith("/app/"):  # B's session, A's ids: with a valid form, as the page sends
                    response = page_client.open(path, method=method, data={"csrf": app_csrf, "active": "false"})
                    assert response.status_code == 404, (method, path, response.status_code)
                else:
                    response = client.open(path, method=method, json=BODIES.get((method, rule.rule)),
                                           headers=second.headers)
                    assert response.status_code == 404, (method, path, response.status_code,
                                                         response.get_data(as_text=True)[:300])
                assert CANARY not in response.get_data(as_text=True), (method, path)
                calls += 1
    assert calls > 40
    assert snapshot(first.workspace.id) == before


def concrete(rule: str, values: dict[str, list[str]], own_portal_token: str) -> list[str]:
    """``rule`` with each placeholder filled in every way ``values`` gives (``token``: B's portal link)."""
    return route_paths.fill(rule, lambda converter, name: [own_portal_token] if name == "token" else values[name])


def body_calls(ids: Ids, own: Ids):
    """``(method, path, body or None)`` calls naming ``ids``' data where ``own`` would be accepted."""
    return [
        ("POST", "/api/webhooks", {"action": "create_post", "client_id": ids.client, "caption": "x"}),
        ("POST", "/api/webhooks", {"action": "list_posts", "client_id": ids.client}),
        ("POST", "/api/webhooks", {"action": "update_engagement", "post_id": ids.post_number, "likes": 1}),
        ("POST", "/v1/publish", {"content": "x", "accounts": [ids.account], "schedule": LATER}),
        ("POST", "/v1/publish", {"content": "x", "accounts": [own.account], "media": [ids.media],
                                 "schedule": LATER}),
        ("POST", "/v1/publish", {"content": "x", "accounts": [own.account], "client_id": ids.client,
                                 "schedule": LATER}),
        ("POST", "/v1/publish", {"content": "x", "accounts": [own.account], "campaign_id": ids.campaign,
                                 "schedule": LATER}),
        ("POST", "/v1/publish", {"post_id": ids.draft, "accounts": [own.account], "schedule": LATER}),
        ("POST", "/v1/publish/batch", {"posts": [{"content": "x", "accounts": [ids.account],
                                                  "schedule": LATER}]}),
        ("PATCH", f"/v1/posts/{own.post}", {"campaign_id": ids.campaign}),
        ("PATCH", f"/v1/posts/{own.post}", {"accounts": [ids.account]}),
        ("PATCH", f"/v1/posts/{own.post}", {"media": [ids.media]}),
        ("POST", "/api/webhooks", {"action": "update_post", "post_id": ids.post_number, "caption": "x"}),
        ("POST", "/api/campaigns", {"name": "x", "client_id": ids.client}),
        ("POST", "/api/client-portal/create-token", {"client_id": ids.client, "permissions": "view"}),
        ("POST", "/api/intelligence/engagement", {"post_id": ids.post, "likes": 1}),
        ("POST", "/api/intelligence/engagement/batch", {"items": [{"post_id": ids.post, "likes": 1}]}),
        ("POST", "/api/intelligence/score", {"post_id": ids.post}),
        ("POST", "/api/intelligence/score", {"caption": "x", "client_id": ids.client}),
        ("POST", "/api/intelligence/analyze-performance", {"client_id": ids.client}),
        ("GET", f"/v1/posts?client_id={ids.client}", None),
        ("GET", f"/v1/posts?campaign_id={ids.campaign}", None),
        ("GET", f"/v1/analytics?client_id={ids.client}", None),
        ("GET", f"/api/campaigns?client_id={ids.client}", None),
        ("GET", f"/api/export/posts?client_id={ids.client}", None),
        ("GET", f"/api/analytics/export?client_id={ids.client}", None),
        ("GET", f"/api/intelligence/memory?client_id={ids.client}", None),
        ("GET", f"/api/intelligence/top-patterns?client_id={ids.client}", None),
        ("GET", f"/api/intelligence/hooks?client_id={ids.client}", None),
        ("GET", f"/api/intelligence/export?client_id={ids.client}", None),
        ("GET", f"/api/client-portal/tokens?client_id={ids.client}", None),
    ]


def test_another_workspaces_ids_in_a_body_or_query_are_refused_and_change_nothing(client, world):
    first, first_ids, second, second_ids = world
    before = snapshot(first.workspace.id)
    own_calls = body_calls(second_ids, second_ids)
    for (method, path, body), (_, own_path, own_body) in zip(body_calls(first_ids, second_ids), own_calls,
                                                              strict=True):
        control = client.open(own_path, method=method, json=own_body, headers=second.headers)
        control.get_data()
        control.close()  # a streamed export holds its request context until closed
        assert control.status_code < 300, (method, own_path, own_body, control.get_data(as_text=True)[:300])
        response = client.open(path, method=method, json=body, headers=second.headers)
        response.close()
        if path == "/api/intelligence/engagement/batch":  # answers each item: the one item is refused
            [result] = response.get_json()["results"]
            assert response.status_code == 200 and result["error"]["code"] == "not_found", response.get_json()
        else:
            assert response.status_code == 404, (method, path, body, response.status_code,
                                                 response.get_data(as_text=True)[:300])
        assert CANARY not in response.get_data(as_text=True), (method, path)
    assert snapshot(first.workspace.id) == before


def test_lists_and_exports_show_another_workspace_nothing(app, client, world):
    first, _, second, _ = world
    routes = [rule.rule for rule in app.url_map.iter_rules() if "GET" in rule.methods and "<" not in rule.rule]
    for path in sorted(routes):
        response = client.get(path, headers=second.headers)
        data = response.get_data()
        response.close()  # a streamed export holds its request context until closed
        assert response.status_code < 500, path
        if response.mimetype == "application/zip":  # the account export: look inside every file
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                data = b"".join(archive.read(name) for name in archive.namelist())
            assert b"second-b" in data  # B's own data is there, so the look inside is real
        assert CANARY.encode() not in data, path
