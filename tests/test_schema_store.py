"""The schema store: jsonschema-rs answers valid requests alone; jsonschema decides every refusal and
words its error, including where the two disagree."""

from __future__ import annotations

import pytest

from herald import schemas
from herald.errors import ValidationError
from herald.schemas import SchemaStore

VALID = {"action": "create_post", "client_id": 1, "topic": "Text on design", "caption": "Instagram caption",
         "post_type": "post", "platforms": "instagram"}


@pytest.fixture
def store(monkeypatch):
    monkeypatch.setattr(schemas, "CROSSCHECK", False)  # as in production
    return SchemaStore()


class Refusing:
    """Stands in for jsonschema's validator where a test expects it never to be asked."""

    def iter_errors(self, instance):
        pytest.fail(f"jsonschema was asked about {instance!r}")


def test_every_schema_compiles_with_jsonschema_rs(store):
    assert schemas.jsonschema_rs is not None, "jsonschema-rs is a dependency of herald"
    assert set(store._fast) == set(store.schemas)


def test_a_valid_request_is_answered_without_jsonschema(store, monkeypatch):
    monkeypatch.setitem(store._validators, "create_post", Refusing())
    store.validate("create_post", VALID)


@pytest.mark.parametrize("payload", [{**VALID, "platforms": []}, {**VALID, "platforms": 5}, {**VALID, "client_id": 0},
                                     {**VALID, "colour": "red"}, {"action": "create_post"}])
def test_a_refusal_is_worded_by_jsonschema(store, monkeypatch, payload):
    def refusal(store):
        with pytest.raises(ValidationError) as raised:
            store.validate("create_post", payload)
        return raised.value.field, raised.value.message

    with_both = refusal(store)
    monkeypatch.setattr(schemas, "jsonschema_rs", None)
    assert with_both == refusal(SchemaStore())


@pytest.mark.parametrize("client_id", ["12\n", 10**30])
def test_where_jsonschema_rs_refuses_or_cannot_say_jsonschema_decides(store, client_id):
    """jsonschema-rs refuses "12\\n" (its ``$`` is the very end; Python's also matches before a final
    newline) and cannot hold 10**30; either way jsonschema's answer stands, as it did before."""
    assert not store._fast_accepts("create_post", {**VALID, "client_id": client_id})
    if client_id == "12\n":
        store.validate("create_post", {**VALID, "client_id": client_id})
    else:
        with pytest.raises(ValidationError) as raised:
            store.validate("create_post", {**VALID, "client_id": client_id})
        assert raised.value.field == "client_id"


def test_without_jsonschema_rs_jsonschema_answers_alone(monkeypatch):
    monkeypatch.setattr(schemas, "jsonschema_rs", None)
    store = SchemaStore()
    assert not store._fast
    store.validate("create_post", VALID)
    with pytest.raises(ValidationError):
        store.validate("create_post", {**VALID, "client_id": 0})


def test_the_crosscheck_catches_a_more_lenient_fast_validator(monkeypatch):
    monkeypatch.setattr(schemas, "CROSSCHECK", True)
    store = SchemaStore()

    class Lenient:
        def is_valid(self, instance):
            return True

    monkeypatch.setitem(store._fast, "create_post", Lenient())
    with pytest.raises(AssertionError, match="jsonschema-rs accepted"):
        store.validate("create_post", {**VALID, "client_id": 0})
