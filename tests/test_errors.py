"""Every error a client can cause is the one envelope with the right status; never HTML, never a 500
for bad input."""

import ast
import codecs
import importlib
import json
import pkgutil
import sys
from pathlib import Path

import pytest
from flask import Blueprint

from conftest import assert_error, start_app
from herald import Action, hookimpl
from herald.catalogue import Catalogue, CatalogueConflict, ErrorCode
from herald.db.models import Post, db
from herald.errors import (
    ERROR_CODES,
    FeatureDisabled,
    HeraldError,
    NotFound,
    UnknownErrorCode,
    code_for_status,
)
from herald.plugins import PluginError, PluginRegistry, get_plugin_manager, new_plugin_manager
from herald.web.serving import error_message


def test_malformed_json_is_400(client, tenant):
    response = client.post("/api/webhooks", data=b'{"action": "create_post",', headers=tenant.headers,
                           content_type="application/json")
    error = assert_error(response, 400, "validation_error")
    assert "JSON" in error["message"]


def test_json_that_is_not_an_object_is_400(client, tenant):
    response = client.post("/api/webhooks", json=[1, 2], headers=tenant.headers)
    assert_error(response, 400, "validation_error")


def test_wrong_content_type_is_415(client, tenant):
    response = client.post("/api/webhooks", data="action=create_post", headers=tenant.headers,
                           content_type="application/x-www-form-urlencoded")
    assert_error(response, 415, "unsupported_media_type")


def test_unknown_route_is_404_envelope(client):
    response = client.get("/api/nothing-here")
    assert_error(response, 404, "not_found")
    assert b"<html" not in response.data.lower()


def test_wrong_method_is_405_envelope_with_allow(client):
    response = client.delete("/api/webhooks")
    assert_error(response, 405, "method_not_allowed")
    assert "POST" in response.headers["Allow"]


def test_body_too_large_is_413(client, tenant):
    big = b'{"action": "create_post", "caption": "' + b"x" * (2 * 1024 * 1024) + b'"}'
    response = client.post("/api/webhooks", data=big, headers=tenant.headers, content_type="application/json")
    assert_error(response, 413, "payload_too_large")


def test_unauthenticated_comes_before_validation(client):
    assert_error(client.post("/api/webhooks", data=b"{", content_type="application/json"), 401, "unauthorized")


class Exploding:
    @hookimpl
    def register_actions(self, register):
        def handler(ctx, payload):
            raise RuntimeError("database on fire")

        register(Action("explode", handler, {"type": "object"}, scope="posts:read"))


@pytest.fixture
def exploding_app(clock, config, register_plugin):
    register_plugin(Exploding(), "exploding")
    return start_app(clock, config)


def test_unexpected_exception_is_500_with_request_id(exploding_app, tenant, caplog):
    response = exploding_app.test_client().post("/api/webhooks", json={"action": "explode"}, headers=tenant.headers)
    error = assert_error(response, 500, "internal_error")
    request_id = response.headers["X-Request-ID"]
    assert request_id in error["message"]
    assert "database on fire" not in error["message"]
    assert any(request_id in record.getMessage() for record in caplog.records)


def test_request_id_is_echoed_when_sent(client):
    assert client.get("/health", headers={"X-Request-ID": "abc123"}).headers["X-Request-ID"] == "abc123"


HUGE = "99999999999999999999999"  # past SQLite's 64-bit integers: a query with it raises OverflowError


@pytest.mark.parametrize("path", [
    f"/api/clients/{HUGE}", "/api/clients/9223372036854775808", f"/api/clients/{HUGE}/health",
    f"/api/media/{HUGE}", f"/v1/posts/post_{HUGE}", f"/v1/posts/{HUGE}", f"/v1/accounts/acc_{HUGE}",
    f"/api/campaigns/{HUGE}", f"/v1/webhooks/wh_{HUGE}", "/v1/posts/post_²",
])
def test_an_id_too_big_or_not_a_number_is_404_not_500(client, tenant, path):
    assert_error(client.get(path, headers=tenant.headers), 404, "not_found")


@pytest.mark.parametrize("payload, field", [
    ({"action": "create_post", "client_id": int(HUGE)}, "client_id"),
    ({"action": "create_post", "client_id": 1, "media": [int(HUGE)]}, "media.0"),
    ({"action": "list_posts", "client_id": int(HUGE)}, "client_id"),
    ({"action": "update_engagement", "post_id": int(HUGE), "likes": 1}, "post_id"),
])
def test_an_id_too_big_in_a_body_is_a_400_naming_the_field(client, tenant, payload, field):
    assert_error(client.post("/api/webhooks", json=payload, headers=tenant.headers), 400, "validation_error", field)


def test_an_id_too_big_in_v1_publish_is_refused(client, tenant):
    response = client.post("/v1/publish", json={"accounts": [f"acc_{HUGE}"], "content": "Hi", "client_id": int(HUGE)},
                           headers=tenant.headers)
    assert response.status_code in (400, 404)
    assert response.get_json()["error"]["field"] in ("client_id", "accounts.0")


@pytest.mark.parametrize("method, path, payload, field", [
    ("POST", "/api/webhooks", {"action": "create_post", "client_id": 1, "caption": "Fresh\u0000bread",
                               "platforms": "instagram"}, "caption"),
    ("POST", "/api/clients", {"name": "Bakery\u0000"}, "name"),
    ("POST", "/v1/publish", {"content": "x", "accounts": ["acc_1"], "media": [], "tags": {"a\u0000": 1}}, "tags.a"),
    ("POST", "/api/login", {"email": "owner\u0000@example.com", "password": "secret"}, "email"),
])
def test_a_nul_character_in_a_json_body_is_a_400_naming_the_field(client, tenant, method, path, payload, field):
    """PostgreSQL cannot store U+0000: refused at the door on both databases, never a 500."""
    error = assert_error(client.open(path, method=method, json=payload, headers=tenant.headers),
                         400, "validation_error", field)
    assert "NUL character" in error["message"]


def test_an_escaped_backslash_before_u0000_is_text_not_a_nul(client, tenant):
    caption = "Write \\u0000 to mean nothing"
    response = client.post("/api/webhooks", json={"action": "create_post", "client_id": tenant.client.id,
                                                  "caption": caption, "platforms": "instagram"},
                           headers=tenant.headers)
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["post"]["caption"] == caption


def test_a_nul_character_in_the_query_or_the_path_is_refused(client, tenant):
    assert_error(client.get("/v1/posts?status=draft%00", headers=tenant.headers), 400, "validation_error", "status")
    assert_error(client.get("/api/jobs/job%00x", headers=tenant.headers), 404, "not_found")
    assert_error(client.get("/api/clients/1%00", headers=tenant.headers), 404, "not_found")


def test_a_nul_character_in_an_uploaded_file_name_is_dropped(client, tenant):
    import io

    from graph_drive import JPEG

    response = client.post("/api/media", headers=tenant.headers, content_type="multipart/form-data",
                           data={"file": (io.BytesIO(JPEG), "bre\x00ad.jpg", "image/jpeg")})
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["media"]["filename"] == "bread.jpg"


@pytest.mark.parametrize("headers", [{}, {"Idempotency-Key": "deep-1"}], ids=["plain", "idempotent"])
def test_json_nested_too_deeply_is_a_400_not_a_500(client, tenant, headers):
    body = b"[" * 200_000 + b"]" * 200_000  # under the 1 MiB limit, far deeper than any parser recurses
    response = client.post("/v1/publish", data=body, content_type="application/json",
                           headers={**tenant.headers, **headers})
    error = assert_error(response, 400, "validation_error")
    assert "nested too deeply" in error["message"]


def test_a_nul_deep_down_is_named_by_its_whole_path(client, tenant):
    body = '{"caption": ' + '{"a": ' * 900 + '"x\\u0000"' + "}" * 900 + "}"
    response = client.post("/api/webhooks", data=body, content_type="application/json", headers=tenant.headers)
    if response.status_code == 400 and "nested too deeply" in response.get_json()["error"]["message"]:
        pytest.skip("this Python's JSON parser stops before 900 levels")
    error = assert_error(response, 400, "validation_error")
    assert error["field"] == "caption." + ".".join(["a"] * 900)


def test_the_walk_for_unstorable_text_does_not_use_python_recursion():
    """From Python 3.12 the JSON parser's nesting limit is no longer Python's recursion limit, so a
    body can be deeper than a recursive walk could go: the walk keeps its own stack."""
    from herald.db.unstorable_text import first_unstorable

    value = "x\u0000"
    for _ in range(5 * sys.getrecursionlimit()):
        value = {"a": [value]}
    path, message = first_unstorable(value)
    assert path == ".".join(["a.0"] * 5 * sys.getrecursionlimit()) and "NUL" in message


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_are_not_json(client, tenant, constant):
    body = '{"action": "list_posts", "client_id": 1, "limit": ' + constant + "}"
    response = client.post("/api/webhooks", data=body, content_type="application/json", headers=tenant.headers)
    error = assert_error(response, 400, "validation_error")
    assert f"{constant} is not a JSON value" in error["message"]


@pytest.mark.parametrize("moment", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-12:00"])
def test_a_time_that_leaves_the_calendar_in_utc_is_a_400(client, tenant, moment):
    """Python's datetime stops at years 1 and 9999: converting these to UTC overflowed into a 500."""
    post = client.post("/api/webhooks", json={"action": "create_post", "client_id": tenant.client.id,
                                              "caption": "x", "platforms": "instagram"},
                       headers=tenant.headers).get_json()["post"]["id"]
    error = assert_error(client.patch(f"/v1/posts/post_{post}", json={"schedule": moment}, headers=tenant.headers),
                         400, "validation_error", "schedule")
    assert "too far in the past or the future" in error["message"]
    assert_error(client.post("/api/client-portal/create-token", headers=tenant.headers,
                             json={"client_id": tenant.client.id, "permissions": "view", "expires_at": moment}),
                 400, "validation_error", "expires_at")


@pytest.mark.parametrize("path, body, field", [
    ("/api/webhooks", b'{"action": "create_post", "client_id": 1, "caption": "Fresh \\ud800 bread", '
                      b'"platforms": "instagram"}', "caption"),
    ("/api/clients", b'{"name": "Bakery \\uDFFF"}', "name"),
    ("/api/clients", b'{"name": "Bakery", "\\ud83d": 1}', ""),
])
def test_a_lone_surrogate_is_a_400_naming_the_field(client, tenant, path, body, field):
    """``\\ud800`` alone is valid JSON but not a character: no database can store it (it was a 500)."""
    response = client.post(path, data=body, content_type="application/json", headers=tenant.headers)
    error = assert_error(response, 400, "validation_error", field or None)
    assert "lone surrogate" in error["message"]


def test_an_emoji_sent_as_an_escaped_surrogate_pair_is_kept(client, tenant):
    body = (b'{"action": "create_post", "client_id": 1, "caption": "Fresh bread \\ud83e\\udd56", '
            b'"platforms": "instagram"}')
    response = client.post("/api/webhooks", data=body, content_type="application/json", headers=tenant.headers)
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["post"]["caption"] == "Fresh bread \N{BAGUETTE BREAD}"


def test_a_nul_character_in_a_spreadsheet_names_its_row(client, tenant):
    csv_text = 'content,accounts\nFresh bread,acc_1\n"Two\nlines",acc_1\nNUL \x00 here,acc_1\n'
    response = client.post("/v1/publish/csv", data=csv_text.encode(), content_type="text/csv", headers=tenant.headers)
    error = assert_error(response, 400, "validation_error", "rows.4")
    assert "NUL character" in error["message"]


def test_whole_numbers_written_with_a_fraction_are_integers(client, tenant):
    """JSON Schema counts 5.0 as an integer, so the code behind it gets 5 (LIMIT 5.0 was a 500, post 1.0 a 404)."""
    post = client.post("/api/webhooks", json={"action": "create_post", "client_id": float(tenant.client.id),
                                              "caption": "Fresh bread", "platforms": "instagram"},
                       headers=tenant.headers).get_json()["post"]["id"]
    listed = client.post("/api/webhooks", json={"action": "list_posts", "client_id": tenant.client.id, "limit": 5.0},
                         headers=tenant.headers)
    assert listed.status_code == 200 and [item["id"] for item in listed.get_json()["posts"]] == [post]
    engagement = client.post("/api/webhooks", headers=tenant.headers,
                             json={"action": "update_engagement", "post_id": float(post), "likes": 3.0,
                                   "comments": 1e2})
    assert engagement.status_code == 200, engagement.get_json()
    assert engagement.get_data(as_text=True).count('"likes":3,') == 1
    assert engagement.get_json()["engagement"]["comments"] == 100
    scored = client.post("/api/intelligence/engagement", json={"post_id": float(post), "likes": 2.0},
                         headers=tenant.headers)
    assert scored.status_code < 300, scored.get_json()


@pytest.mark.parametrize("number", ["1e999999999", "1.5e400", "-1e400"])
def test_numbers_beyond_any_count_are_refused_without_building_them(client, tenant, number):
    body = '{"action": "list_posts", "client_id": 1, "limit": ' + number + "}"
    response = client.post("/api/webhooks", data=body, content_type="application/json", headers=tenant.headers)
    error = assert_error(response, 400, "validation_error")
    assert "too large" in error["message"]


def test_a_key_with_the_longest_name_can_still_write_history(client, tenant):
    """The edit history keeps "key:<name> (#id)" in 200 characters: a 200-character key name (which the
    API allows) made every write of that key a 500 on PostgreSQL."""
    made = client.post("/api/keys", json={"name": "Z" * 200, "scopes": ["posts:read", "posts:write"]},
                       headers=tenant.headers)
    assert made.status_code == 201, made.get_json()
    headers = {"X-API-Key": made.get_json()["key"]}
    created = client.post("/api/webhooks", json={"action": "create_post", "client_id": tenant.client.id,
                                                 "caption": "Fresh bread", "platforms": "instagram"}, headers=headers)
    assert created.status_code == 201, created.get_json()
    post = created.get_json()["post"]["id"]
    [version] = client.get(f"/api/posts/{post}/versions", headers=tenant.headers).get_json()["versions"]
    assert len(version["actor"]) == 200 and version["actor"].startswith("key:ZZZ")
    assert version["actor"].endswith(f"\N{HORIZONTAL ELLIPSIS} (#{made.get_json()['api_key']['id']})")


def test_an_idempotent_request_to_a_very_long_path_is_answered(client, tenant):
    response = client.patch("/v1/posts/post_" + "9" * 600, json={"schedule": "now"},
                            headers={**tenant.headers, "Idempotency-Key": "long-path-1"})
    assert_error(response, 404, "not_found")


# -- what errors echo, and which JSON is JSON (issue 19, item 14) ------------------------------------

MEGABYTE_VALUE = "x" * 1_000_000


@pytest.mark.parametrize(("path", "body", "field"), [
    ("/v1/publish", {"content": MEGABYTE_VALUE, "accounts": ["acc_1"]}, "content"),
    ("/v1/publish", {"content": "Hi", "accounts": ["acc_1"], "schedule": MEGABYTE_VALUE}, "schedule"),
    ("/api/webhooks", {"action": MEGABYTE_VALUE}, "action"),
    ("/v1/accounts", {"platform": MEGABYTE_VALUE, "access_token": "x"}, "platform"),
], ids=["too-long-content", "bad-schedule", "unknown-action", "enum-platform"])
def test_an_error_quotes_at_most_100_characters_of_a_huge_value(client, tenant, path, body, field):
    response = client.post(path, json=body, headers=tenant.headers)
    error = assert_error(response, 400, "validation_error")
    assert len(response.data) < 1000, len(response.data)
    assert "x" * 100 + "…" in error["message"] and "x" * 101 not in error["message"]
    assert "(1,000,000 characters)" in error["message"], error["message"]


def test_a_huge_unknown_property_name_is_cut_in_the_field_and_the_message(client, tenant):
    response = client.post("/v1/publish", json={"content": "Hi", "accounts": ["acc_1"], MEGABYTE_VALUE: 1},
                           headers=tenant.headers)
    error = assert_error(response, 400, "validation_error")
    assert len(response.data) < 1000, len(response.data)
    assert error["field"] == "x" * 100 + "… (1,000,000 characters)"
    assert error["message"] == error["field"] + " is not a recognised field."


def test_the_apostrophes_of_prose_are_not_taken_for_quotes(client, tenant):
    from herald.errors import HeraldError

    message = "The client's plan " + "is long " * 30 + "and Herald's answer says so."
    assert HeraldError(message).to_dict()["error"]["message"] == message


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le", "utf-32-be"])
def test_json_in_utf16_or_utf32_is_400(client, tenant, encoding):
    body = json.dumps({"action": "create_post", "client_id": tenant.client.id, "caption": "Hi"}).encode(encoding)
    response = client.post("/api/webhooks", data=body, content_type="application/json", headers=tenant.headers)
    error = assert_error(response, 400, "validation_error")
    assert error["message"].startswith("The body must be JSON in UTF-8 (RFC 8259); this one is in UTF-"), error
    assert error["message"].endswith("Send it encoded as UTF-8.")
    with db.connection_context():
        assert Post.select().count() == 0


def test_a_utf8_byte_order_mark_is_ignored(client, tenant):
    """RFC 8259 section 8.1: parsers MAY ignore a UTF-8 BOM; Herald does (Windows tools write one)."""
    body = codecs.BOM_UTF8 + json.dumps({"action": "create_post", "client_id": tenant.client.id,
                                         "caption": "Café"}).encode()
    response = client.post("/api/webhooks", data=body, content_type="application/json", headers=tenant.headers)
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["post"]["caption"] == "Café"


# -- the error catalogue (herald.errors.ERROR_CODES) -----------------------------------------------------

ROOT = Path(__file__).resolve().parents[1]
SOURCES = [ROOT / "core" / "herald", *sorted(path for path in (ROOT / "plugins").glob("*/herald_*") if path.is_dir()
                                         and (path / "__init__.py").exists())]


def _catalogued() -> set[str]:
    """The codes of the core and of every installed plugin."""
    return {entry.code for entry in PluginRegistry(get_plugin_manager()).error_code_entries()}


def _codes_in_source() -> dict[str, list[str]]:
    """Every error code written as a literal in the core's and the plugins' code: ``code="…"`` and
    ``error_code="…"`` arguments (or a module's constant passed so) and ``code = "…"`` / ``CODE = "…"``
    assignments, with where each is."""
    found: dict[str, list[str]] = {}
    for source in SOURCES:
        for path in sorted(source.rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            constants = {target.id: node.value for node in tree.body if isinstance(node, ast.Assign)
                         for target in node.targets if isinstance(target, ast.Name)}
            for node in ast.walk(tree):
                value = _code_written(node)
                if isinstance(value, ast.Name):
                    value = constants.get(value.id)
                if isinstance(value, ast.Constant) and isinstance(value.value, str):
                    found.setdefault(value.value, []).append(f"{path.relative_to(ROOT)}:{value.lineno}")
    return found


def _code_written(node: ast.AST) -> ast.AST | None:
    if isinstance(node, ast.keyword) and node.arg in ("code", "error_code"):
        return node.value
    if isinstance(node, ast.Assign) and any(isinstance(target, ast.Name) and target.id in ("code", "CODE")
                                            for target in node.targets):
        return node.value
    return None


def _every_error_class() -> list[type]:
    for source in SOURCES:
        package = source.name
        importlib.import_module(package)
        for module in pkgutil.walk_packages([str(source)], prefix=f"{package}."):
            if ".migrations" not in module.name:
                importlib.import_module(module.name)
    found, todo = [], [HeraldError]
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo.extend(cls.__subclasses__())
    return found


def test_every_code_written_in_the_source_is_catalogued():
    found = _codes_in_source()
    assert {"validation_error", "queue_unavailable", "job_interrupted", "bad_request", "fetch_failed"} <= set(found)
    missing = {code: where for code, where in found.items() if code not in _catalogued()}
    assert not missing, f"codes raised but not in the error catalogue: {missing}"


def test_every_error_class_has_a_catalogued_code_and_takes_its_status_from_the_catalogue():
    classes = _every_error_class()
    assert len(classes) > 15
    catalogued = _catalogued()
    for cls in classes:
        assert cls.code in catalogued, cls
        assert "status" not in vars(cls) or cls is HeraldError, f"{cls} fixes a status of its own"
        error = cls.__new__(cls)
        error.code = cls.code
        assert error.status == ERROR_CODES[cls.code].status


def test_a_code_that_is_not_catalogued_cannot_be_raised():
    with pytest.raises(UnknownErrorCode, match="nope_not_a_code"):
        HeraldError("Broken.", code="nope_not_a_code")
    assert HeraldError("Gone.", code="database_unavailable").status == 503
    assert NotFound("Not here.").status == 404 and FeatureDisabled("Off.").status == 403


def test_every_catalogued_code_has_a_status_and_a_meaning():
    entries = ERROR_CODES.entries()
    assert [entry.code for entry in entries] == list(ERROR_CODES)
    for entry in entries:
        assert 400 <= entry.status <= 599 and entry.meaning.endswith("."), entry.code
    assert [entry.code for entry in entries if entry.status == 409] == ["conflict", "idempotency_conflict"]


@pytest.mark.parametrize("status", sorted({400, 401, 403, 404, 405, 408, 409, 413, 414, 415, 417, 429, 431, 500, 501,
                                           406, 410, 411, 412, 416, 418, 502, 505}))
def test_a_status_a_library_refuses_with_maps_to_a_code_answered_with_that_status(status):
    code = code_for_status(status)
    expected = status if status in (400, 401, 403, 404, 405, 408, 409, 413, 414, 415, 417, 429, 431, 500, 501) else (
        500 if status >= 500 else 400)
    assert ERROR_CODES[code].status == expected
    assert ERROR_CODES[code_for_status(status, bad_request="validation_error")].status == expected


def test_the_serving_layer_builds_its_envelope_as_the_application_does():
    response = error_message(431, "Request Header Fields Too Large", "too many headers")
    head, body = response.split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 431 Request Header Fields Too Large\r\n")
    assert json.loads(body) == HeraldError("too many headers.", code="headers_too_large").to_dict()
    # A status Herald has no code of its own for is answered as the catalogue says: 400 bad_request.
    head, body = error_message(411, "Length Required", "").split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert json.loads(body) == {"error": {"code": "bad_request", "message": "Length Required."}}
    # A long quoted value is cut, as in every other envelope.
    body = json.loads(error_message(400, "Bad Request", f"Invalid header '{'x' * 500}'").split(b"\r\n\r\n", 1)[1])
    assert "(500 characters)" in body["error"]["message"]


class Quota:
    """A plugin that declares an error code of its own and raises it from a route."""

    @hookimpl
    def register_error_codes(self, register):
        register("catalogue_test_quota", 429, "The test plugin's own quota is used up.")

    @hookimpl
    def register_blueprints(self, register):
        bp = Blueprint("catalogue_test_quota", __name__)

        @bp.route("/catalogue-test/quota")
        def quota():
            raise HeraldError("The quota is used up.", code="catalogue_test_quota", headers={"Retry-After": "60"})

        register(bp)


def test_a_plugin_declares_error_codes_and_raises_them(clock, config):
    pm = get_plugin_manager()
    pm.register(Quota(), name="catalogue_test_quota")
    try:
        app = start_app(clock, config)
        response = app.test_client().get("/catalogue-test/quota")
        assert_error(response, 429, "catalogue_test_quota")
        assert response.headers["Retry-After"] == "60"
        registry = app.extensions["herald"].registry
        assert registry.error_codes["catalogue_test_quota"].plugin == "catalogue_test_quota"
        [entry] = [entry for entry in registry.error_code_entries() if entry.code == "catalogue_test_quota"]
        assert (entry.status, entry.meaning, entry.plugin) == (
            429, "The test plugin's own quota is used up.", "catalogue_test_quota")
        described = {row["name"]: row for row in registry.describe()}
        assert described["catalogue_test_quota"]["provides"]["error_codes"] == ["catalogue_test_quota"]
    finally:
        pm.unregister(name="catalogue_test_quota")
        db.obj.close_all()


class Declares:
    def __init__(self, *args):
        self.args = args

    @hookimpl
    def register_error_codes(self, register):
        register(*self.args)


@pytest.mark.parametrize("declarations, message", [
    ([("not_found", 404, "Mine now.")], "'not_found', which is the core's"),
    ([("catalogue_test_twice", 409, "One."), ("catalogue_test_twice", 409, "One.")], "declared twice"),
    ([("Catalogue-Test", 400, "Not snake case.")], "not snake_case"),
    ([("catalogue_test_status", 200, "Not an error.")], "HTTP error status"),
    ([("catalogue_test_meaning", 400, "")], "needs a meaning"),
])
def test_a_plugin_cannot_take_a_core_code_declare_one_twice_or_a_malformed_one(declarations, message):
    pm = new_plugin_manager()
    for number, args in enumerate(declarations):
        pm.register(Declares(*args), name=f"declares_{number}")
    with pytest.raises(PluginError, match=message):
        PluginRegistry(pm)
    assert "catalogue_test_twice" not in ERROR_CODES


def test_a_code_keeps_one_meaning_for_the_life_of_the_process():
    catalogue = Catalogue("error code", [ErrorCode("kept", 409, "Kept.", plugin="a")])
    catalogue.add(ErrorCode("kept", 409, "Kept.", plugin="a"))  # a second registry of the same plugins
    with pytest.raises(CatalogueConflict, match="declared twice: by 'a' and by 'b'"):
        catalogue.add(ErrorCode("kept", 409, "Kept.", plugin="b"))
    with pytest.raises(CatalogueConflict, match="differently"):
        catalogue.add(ErrorCode("kept", 410, "Kept.", plugin="a"))
    assert catalogue.entries() == [ErrorCode("kept", 409, "Kept.", plugin="a")]
