"""/openapi.json covers every endpoint that exists, with schemas from schemas/."""

import dataclasses
import re

import pytest
from jsonschema import Draft202012Validator

from herald import plugins
from herald.app import create_app
from herald.models import db


def test_openapi_covers_every_route(app, client):
    document = client.get("/openapi.json").get_json()
    assert document["openapi"].startswith("3.1")
    documented = {(path, method) for path, ops in document["paths"].items() for method in ops}
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert (path, method.lower()) in documented, (path, method)


def test_openapi_schemas_are_the_validation_schemas(client):
    document = client.get("/openapi.json").get_json()
    schemas = document["components"]["schemas"]
    for name in ("create_post", "list_posts", "update_engagement", "client_create"):
        Draft202012Validator.check_schema(schemas[name])
    action_body = document["paths"]["/api/webhooks"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    refs = {ref["$ref"].rsplit("/", 1)[1] for ref in action_body["oneOf"]}
    assert {"create_post", "list_posts", "update_engagement"} <= refs


@pytest.fixture
def app_without_webhooks(config):
    """An application whose HERALD_PLUGINS leaves the webhooks plugin out."""
    before = set(plugins._managers)
    application = create_app(dataclasses.replace(config, plugins=("instagram",)))
    yield application
    db.obj.close_all()
    for key in set(plugins._managers) - before:  # managers are cached per HERALD_PLUGINS for the process
        plugins._managers.pop(key)


def test_openapi_documents_only_the_routes_of_the_loaded_plugins(client, app_without_webhooks):
    # The default application (every installed plugin) has declared the webhooks routes in this process.
    assert "/v1/webhooks" in client.get("/openapi.json").get_json()["paths"]
    restricted = app_without_webhooks.test_client()
    assert restricted.post("/v1/webhooks", json={}).status_code == 404
    document = restricted.get("/openapi.json").get_json()
    assert not [path for path in document["paths"] if path.startswith("/v1/webhooks")]
    assert "/openapi.json" in document["paths"] and "/api/webhooks" in document["paths"]  # the core stays
    served = {re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule) for rule in app_without_webhooks.url_map.iter_rules()}
    assert set(document["paths"]) <= served
