"""/openapi.json covers every endpoint that exists, with schemas from schemas/."""

import dataclasses
import re

import pytest
from jsonschema import Draft202012Validator

from conftest import start_app
from herald import plugins
from herald.db.models import db


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
def app_without_webhooks(clock, config):
    """An application whose HERALD_PLUGINS leaves the webhooks plugin out."""
    before = set(plugins._managers)
    application = start_app(clock, dataclasses.replace(config, plugins=("instagram",)))
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


def _success_types(document, path: str, method: str = "get") -> dict:
    responses = document["paths"][path][method]["responses"]
    return {status: sorted(response.get("content", {})) for status, response in responses.items()
            if status.startswith(("2", "3"))}


def test_downloads_and_the_portal_declare_their_real_content_types(client, tenant):
    document = client.get("/openapi.json").get_json()
    # Large exports answer 202 with a background job (JSON); their file is downloaded from the job's link.
    assert _success_types(document, "/api/export/posts") == {"200": ["text/csv"], "202": ["application/json"]}
    assert _success_types(document, "/api/analytics/export") == {"200": ["text/csv"]}
    assert _success_types(document, "/api/account/export") == {"200": ["application/zip"], "202": ["application/json"]}
    assert _success_types(document, "/api/exports/{token}") == {
        "200": ["application/json", "application/zip", "text/csv"]}
    assert _success_types(document, "/portal/{token}") == {"200": ["text/html"]}
    assert _success_types(document, "/media/{token}/{filename}") == {
        "200": ["image/jpeg", "image/png", "image/webp", "video/mp4", "video/quicktime"]}
    zip_schema = document["paths"]["/api/account/export"]["get"]["responses"]["200"]["content"]["application/zip"]
    assert zip_schema["schema"] == {"type": "string", "contentMediaType": "application/zip"}
    # A download's mistakes (a bad client_id) are still the JSON envelope; the page's are pages.
    csv_error = document["paths"]["/api/export/posts"]["get"]["responses"]["400"]["content"]
    assert csv_error == {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    page_error = document["paths"]["/portal/{token}"]["get"]["responses"]["404"]["content"]
    assert list(page_error) == ["text/html"]
    # The portal's forms take a form body and answer with a redirect back to the page.
    approve = document["paths"]["/portal/{token}/posts/{post_id}/approve"]["post"]
    assert list(approve["requestBody"]["content"]) == ["application/x-www-form-urlencoded"]
    assert _success_types(document, "/portal/{token}/posts/{post_id}/approve", "post") == {"303": []}
    # JSON stays JSON.
    assert _success_types(document, "/v1/posts/{post_id}") == {"200": ["application/json"]}
    assert _success_types(document, "/api/clients/{client_id}/export") == {"200": ["application/json"],
                                                                             "202": ["application/json"]}


def test_declared_content_types_are_what_the_server_sends(client, tenant):
    document = client.get("/openapi.json").get_json()
    link = client.post("/api/client-portal/create-token", headers=tenant.headers,
                       json={"client_id": tenant.client.id, "permissions": "view"}).get_json()
    portal_path = "/portal/" + link["url"].rsplit("/portal/", 1)[1]
    for documented, url in (("/api/export/posts", "/api/export/posts"),
                            ("/api/analytics/export", "/api/analytics/export?period=3"),
                            ("/api/account/export", "/api/account/export"),
                            ("/api/clients/{client_id}/export", f"/api/clients/{tenant.client.id}/export"),
                            ("/portal/{token}", portal_path)):
        response = client.get(url, headers=tenant.headers)
        assert response.status_code == 200, (url, response.status_code)
        declared = list(document["paths"][documented]["get"]["responses"]["200"]["content"])
        assert declared == [response.mimetype], (url, declared, response.mimetype)
        response.close()


def test_error_codes_in_the_document_come_from_the_catalogue(client):
    document = client.get("/openapi.json").get_json()
    code = document["components"]["schemas"]["Error"]["properties"]["error"]["properties"]["code"]
    assert {"validation_error", "not_found", "database_unavailable"} <= set(code["enum"])
    assert "webhook_disabled" not in code["enum"]  # a plugin's event, not an error code
    not_found = document["paths"]["/v1/posts/{post_id}"]["get"]["responses"]["404"]["description"]
    assert "`not_found`" in not_found
    unavailable = document["paths"]["/v1/posts/{post_id}"]["get"]["responses"]["503"]["description"]
    assert "`database_unavailable`" in unavailable and "`validation_error`" not in unavailable
