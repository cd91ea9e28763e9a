"""Every route, every method, fed junk: no answer is a 500, and every error is the one JSON envelope.

The routes come from the application's own URL map, so a route added later is covered without
touching this file. Each is called with a key holding every scope, with path ids that exist, that
do not, and that overflow, with malformed and wrongly shaped bodies, and with junk query strings.
"""

from __future__ import annotations

import dataclasses
import re

import pytest
import route_paths

from conftest import start_app
from herald.db.models import db

BODIES = [
    ("application/json", b'{"caption": '),  # malformed
    ("application/json", b"[]"),
    ("application/json", b'"text"'),
    ("application/json", b"null"),
    ("application/json", b"{}"),
    ("application/json", b'{"name": 12, "client_id": "x", "platforms": {"a": 1}, "schedule": [1], "limit": -5,'
                         b' "events": "all", "url": 7, "status": 3, "email": [], "password": {}}'),
    ("application/json", b'{"client_id": 99999999999999999999999999, "post_id": -1, "id": 1e309}'),
    ("application/json", b'{"action": "create_post", "client_id": 1, "caption": "nul \\u0000 in text", '
                         b'"name": "a\\u0000b", "content": "x\\u0000", "posts": [{"caption": "\\u0000"}], '
                         b'"accounts": ["acc_\\u0000"], "email": "a\\u0000@b.c", "password": "\\u0000"}'),
    ("application/json", b'{"limit": NaN, "client_id": Infinity, "name": -Infinity}'),
    ("application/json", b'{"name": "lone \\ud800", "caption": "\\udfff", "content": "x\\uD83D"}'),
    ("application/json", b"[" * 5000 + b"]" * 5000),
    ("text/plain", b"plain words"),
    ("text/csv", b"content,accounts,first_comment\nnul \x00 here,acc_1,x\x00\n"),
    ("multipart/form-data; boundary=x", b"--x\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\n"),
    ("multipart/form-data; boundary=x",
     b'--x\r\nContent-Disposition: form-data; name="file"; filename="a\x00.jpg"\r\n'
     b"Content-Type: image/jpeg\r\n\r\n\xff\xd8\xff\xe0\x00\x10JFIF\x00\r\n--x--\r\n"),
]
QUERIES = ["", "?limit=-1&cursor=zz&status=nope&from=yesterday&to=2026-13-45&page=x&since=1e999",
           "?limit=99999999999999999999&offset=-5&period=0&client_id=1e5&platform=%20&cursor=-1",
           "?period=99999999999999999999&offset=99999999999999999999&client_id=99999999999999999999&limit=0",
           "?cursor=%00"]
PATH_VALUES = {"int": ["1", "99999999999999999999999999"], "default": ["1", "post_1", "..%2F..", "%00"]}
# What answers without credentials (logging out without a session is not an error).
PUBLIC_PATHS = {"/health", "/openapi.json", "/api/logout", "/app/login"}
HTML_ROUTES = re.compile(r"^/(portal|p|app)/")  # pages for people, not the API
SESSION_PAGES = "/app/"  # signed-in users' pages: an API key is not their credential (401 is right)


@pytest.fixture
def fuzz_app(clock, config):
    application = start_app(clock, dataclasses.replace(config, rate_limit="1000000/minute").with_settings(
        graph_base_url="http://127.0.0.1:9", instagram_base_url="http://127.0.0.1:9"))
    yield application
    db.obj.close_all()


def concrete_paths(rule) -> list[str]:
    """``rule`` with its placeholders filled in each way :data:`PATH_VALUES` gives."""
    return route_paths.fill(rule.rule, lambda converter, name: PATH_VALUES.get(converter, PATH_VALUES["default"]))


def test_no_route_answers_a_500_or_an_error_outside_the_envelope(fuzz_app, make_tenant):
    tenant = make_tenant("Fuzz Agency")
    client = fuzz_app.test_client()
    created = client.post("/api/webhooks", json={"action": "create_post", "client_id": tenant.client.id,
                                                  "caption": "A post for the ids to find", "platforms": "instagram"},
                          headers=tenant.headers)
    assert created.status_code == 201, created.get_json()
    statuses, _ = fuzz(fuzz_app, client, tenant.headers)
    # the junk reached the handlers: not everything was refused at the door
    assert statuses.get(400, 0) > 100 and statuses.get(200, 0) > 20 and statuses.get(401, 0) < 50, statuses


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer hrld_live_" + "x" * 43},
                                     {"Cookie": "herald_session=forged", "X-CSRF-Token": "forged"}],
                         ids=["no credentials", "unknown key", "forged session"])
def test_without_valid_credentials_every_route_answers_in_the_envelope(clock, config, make_tenant, headers):
    make_tenant("Fuzz Agency")
    app = start_app(clock, dataclasses.replace(config, rate_limit="1000000/minute", auth_failure_limit="1000000/minute",
                                         login_rate_limit="1000000/minute"))
    statuses, succeeded = fuzz(app, app.test_client(), headers)
    assert statuses.get(401, 0) > 100, statuses
    assert {path for _, path in succeeded} <= PUBLIC_PATHS, succeeded


def fuzz(app, client, headers: dict) -> tuple[dict[int, int], set[tuple[str, str]]]:
    """Call every route of ``app`` every junk way; fail with the answers that break the rules,
    return how many answers had each status and the calls that succeeded."""
    rules = sorted((rule for rule in app.url_map.iter_rules() if rule.endpoint != "static"),
                   key=lambda rule: rule.rule)
    calls = [(method, path) for rule in rules for method in sorted(rule.methods - {"HEAD", "OPTIONS"})
             for path in concrete_paths(rule)]
    calls.sort(key=lambda call: call[0] == "DELETE")  # deletions last, so the rest sees the data
    problems, statuses, succeeded = [], {}, set()
    for method, path in calls:
        for query in QUERIES:
            for content_type, body in BODIES if method in ("POST", "PUT", "PATCH") else [(None, None)]:
                response = client.open(path + query, method=method, data=body, content_type=content_type,
                                       headers=headers)
                problem = what_is_wrong(response, path)
                if not path.startswith(SESSION_PAGES):
                    statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
                if response.status_code < 300:
                    succeeded.add((method, path))
                response.close()  # a streamed export is closed, not left to the garbage collector
                if problem:
                    problems.append(f"{method} {path}{query} [{content_type} {body!r}]: {problem}")
    assert not problems, "\n".join(problems[:40]) + f"\n({len(problems)} in all)"
    return statuses, succeeded


def what_is_wrong(response, path: str) -> str | None:
    """Why ``response`` breaks the rules, or None."""
    if response.status_code >= 500:
        return f"{response.status_code} {response.get_data(as_text=True)[:300]}"
    if response.status_code < 400:
        return None
    if HTML_ROUTES.match(path) and response.mimetype == "text/html":
        return None
    if response.mimetype != "application/json":
        return f"{response.status_code} as {response.mimetype}: {response.get_data(as_text=True)[:200]}"
    body = response.get_json(silent=True)
    error = (body or {}).get("error") if isinstance(body, dict) else None
    if set(body or {}) != {"error"} or not isinstance(error, dict) or not error.get("code") or not error.get("message"):
        return f"{response.status_code} outside the envelope: {response.get_data(as_text=True)[:200]}"
    return None


def test_bodies_at_the_edges_of_their_schemas_are_never_a_500(fuzz_app, make_tenant):
    """Each documented JSON body, built from its own schema at the edges: the longest strings (in
    two-byte characters), the smallest and largest integers, the most items, each enum value, null
    where allowed. A value the schema lets through must never fail further in (a column too short,
    an overflow): the answer is a success or an error in the envelope."""
    tenant = make_tenant("Edge Agency")
    client = fuzz_app.test_client()
    client.post("/api/webhooks", json={"action": "create_post", "client_id": tenant.client.id, "caption": "x",
                                       "platforms": "instagram"}, headers=tenant.headers)
    client.post("/api/campaigns", json={"client_id": tenant.client.id, "name": "Spring"}, headers=tenant.headers)
    spec = client.get("/openapi.json").get_json()
    problems, sent, succeeded = [], 0, 0
    for path, operations in spec["paths"].items():
        concrete = re.sub(r"\{[^}]+\}", "1", path.replace("{post_id}", "post_1") if path.startswith("/v1") else path)
        for method, operation in operations.items():
            content = ((operation.get("requestBody") or {}).get("content") or {}).get("application/json")
            if not content:
                continue
            for variant in range(4):
                body = edge_instance(content["schema"], (spec,), variant)
                response = client.open(concrete, method=method.upper(), json=body, headers=tenant.headers)
                sent += 1
                succeeded += response.status_code < 300
                problem = what_is_wrong(response, concrete)
                if problem:
                    problems.append(f"{method.upper()} {concrete} variant {variant}: {problem}")
    assert not problems, "\n".join(problems[:40])
    assert sent > 60 and succeeded > 10, (sent, succeeded)  # the bodies were found, and many were taken


def edge_instance(schema: dict, roots: tuple[dict, ...], variant: int):
    """A value for ``schema`` at one of its edges: ``variant`` 0 and 2 the smallest, 1 and 3 the largest.
    ``roots`` are the documents a ``$ref`` may point into, innermost first (a schema's own ``$defs``,
    then the OpenAPI document's components)."""
    if not isinstance(schema, dict):  # true: anything goes
        return None
    if "$ref" in schema:
        for root in roots:
            target = root
            for part in schema["$ref"].removeprefix("#/").split("/"):
                target = target.get(part) if isinstance(target, dict) else None
            if isinstance(target, dict):
                return edge_instance(target, (target, *roots), variant)
        raise AssertionError(f"unresolved {schema['$ref']}")
    if "$defs" in schema:
        roots = (schema, *roots)
    for key in ("oneOf", "anyOf"):
        if key in schema:
            return edge_instance(schema[key][variant % len(schema[key])], roots, variant)
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return schema["enum"][variant % len(schema["enum"])]
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = kind[-1] if variant == 3 else next(item for item in kind if item != "null")
    largest = variant % 2 == 1
    if kind == "object" or "properties" in schema:
        return {name: edge_instance(item, roots, variant) for name, item in schema.get("properties", {}).items()}
    if kind == "array":
        count = schema.get("maxItems", 3) if largest else max(schema.get("minItems", 1), 1)
        return [edge_instance(schema.get("items", {}), roots, variant) for _ in range(min(count, 50))]
    if kind == "integer":
        return schema.get("maximum", 2**62) if largest else schema.get("minimum", 0)
    if kind == "boolean":
        return largest
    if kind == "string":
        if "pattern" in schema or "format" in schema:
            return "x"  # the schema's own refusal is not what this test is about
        return "\N{LATIN SMALL LETTER E WITH ACUTE}" * (schema.get("maxLength", 300) if largest
                                                        else max(schema.get("minLength", 1), 1))
    return None
