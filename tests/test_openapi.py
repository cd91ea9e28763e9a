"""/openapi.json covers every endpoint that exists, with schemas from schemas/."""

import re

from jsonschema import Draft202012Validator


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
