"""A client generated from ``/openapi.json`` with openapi-python-client works: it creates a client and
a draft, connects an account, publishes the draft to the fake Graph API and reads the typed answer.

The generated package talks to the application through httpx's WSGI transport (real requests
through the whole Flask stack); the publish job runs on an in-process RQ worker."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from drive import work
from fakes.graph import PAGE_TOKEN

GENERATOR = Path(sys.executable).with_name("openapi-python-client")
PACKAGE = "herald_generated_client"


@pytest.fixture
def app(build_app, fake):
    """The application (the one ``tenant`` and the workers use) with the Meta hosts at the fake Graph API."""
    return build_app(**fake.hosts())


@pytest.fixture
def generated(app, tmp_path):
    """The client package generated from the application's document, imported."""
    document = tmp_path / "openapi.json"
    document.write_text(json.dumps(app.test_client().get("/openapi.json").get_json()))
    result = subprocess.run([str(GENERATOR), "generate", "--path", str(document), "--meta", "none",
                             "--output-path", str(tmp_path / PACKAGE)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and (tmp_path / PACKAGE / "client.py").exists(), result.stdout + result.stderr
    # Only what a generator cannot express is left out: binary downloads and the CSV upload.
    skipped = [line for line in result.stdout.splitlines() if line.startswith(("Unable to", "Failure to"))]
    assert not skipped, result.stdout
    sys.path.insert(0, str(tmp_path))
    try:
        yield lambda name: importlib.import_module(f"{PACKAGE}.{name}")
    finally:
        sys.path.remove(str(tmp_path))
        for name in [name for name in sys.modules if name.split(".")[0] == PACKAGE]:
            del sys.modules[name]


@pytest.mark.skipif(not GENERATOR.exists(), reason="openapi-python-client is not installed (pip install -e '.[test]')")
def test_a_generated_client_publishes_a_draft_and_reads_the_typed_post(generated, app, tenant, fake,
                                                                        redis_client):
    models = generated("models")
    api = generated("client").AuthenticatedClient(
        base_url="http://herald.test", token=tenant.key,
        httpx_args={"transport": httpx.WSGITransport(app=app)}, raise_on_unexpected_status=True)

    created = generated("api.clients.post_api_clients").sync(
        client=api, body=models.ClientCreate(name="Corner Bakery", timezone="Europe/Berlin"))
    assert isinstance(created, models.ClientAnswer) and created.client.name == "Corner Bakery"

    account = generated("api.v1.post_v1_accounts").sync(
        client=api, body=models.V1AccountConnect(platform="facebook", access_token=PAGE_TOKEN))
    assert isinstance(account, models.Account) and account.platform == "facebook"

    draft = generated("api.actions.post_api_webhooks").sync(
        client=api, body=models.CreatePost(action="create_post", client_id=created.client.id,
                                           caption="Fresh buns at dawn", platforms="facebook"))
    post_id = draft["post"]["id"]  # an action answers its own object (ActionResult)
    assert draft["post"]["status"] == "draft"

    queued = generated("api.v1.post_v1_publish").sync(
        client=api, body=models.V1Publish(post_id=post_id, accounts=[account.id], schedule="now"))
    assert isinstance(queued, models.PostPublished) and queued.status == "queued"

    assert work(redis_client) >= 1  # the publish job, on an in-process worker
    post = generated("api.v1.get_v1_posts_post_id").sync(client=api, post_id=queued.id)
    assert isinstance(post, models.PostWithTasks)
    assert post.status == "published" and post.content == "Fresh buns at dawn"
    (task,) = post.tasks
    assert isinstance(task, models.Task) and task.status == "published" and task.platform == "facebook"
    assert task.platform_post_id and task.url
    assert [request.path for request in fake.requests if "Fresh buns at dawn" in json.dumps(request.params)]

    missing = generated("api.v1.get_v1_posts_post_id").sync(client=api, post_id="post_999999")
    assert isinstance(missing, models.Error) and missing.error.code == "not_found"
