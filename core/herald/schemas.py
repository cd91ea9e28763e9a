"""JSON Schemas from ``schemas/``: loaded by name and compiled once (draft 2020-12).

Validation failures become a 400 ``validation_error`` whose ``field`` points at the offending
property (dotted path, ``media.0``), so a client can fix its request without guessing.

``jsonschema`` is the reference. Each schema is also compiled with ``jsonschema-rs`` (a Rust validator,
about 200 times faster here), which answers the common case, a valid request, on its own; whenever it
finds a request invalid, or cannot say, ``jsonschema`` decides and words the error. So ``jsonschema-rs``
can only spare work, never change an answer, as long as it accepts nothing ``jsonschema`` refuses: the
test suite checks that on every request it validates (:data:`CROSSCHECK`).
"""

from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path

from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

try:
    import jsonschema_rs
except ImportError:  # an optional accelerator: without it every request goes through jsonschema
    jsonschema_rs = None

from .errors import ValidationError, capped_field

CROSSCHECK = False  # tests set it: validate with both, fail loudly where jsonschema-rs is more lenient


def schemas_dir() -> Path:
    """The ``schemas/`` directory: beside the source tree, or installed under ``share/herald``."""
    candidates = [Path(__file__).resolve().parents[2] / "schemas", Path(sys.prefix) / "share" / "herald" / "schemas"]
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError("Herald's schemas/ directory was not found; reinstall the herald package")


def _field_of(error) -> str | None:
    path = [str(part) for part in error.absolute_path]
    if error.validator == "required":
        # "'client_id' is a required property": the missing property is the field.
        missing = next((name for name in error.validator_value if name not in (error.instance or {})), None)
        if missing is not None:
            path.append(missing)
    elif error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = set(error.schema.get("properties", {}))
        extra = sorted(name for name in error.instance if name not in allowed)
        if extra:
            path.append(extra[0])
    return ".".join(path) or None


def _message_of(error, field: str | None) -> str:
    if field is not None:  # a property's name is the client's text too: a long one is cut
        field = capped_field(field)
    if error.validator == "required":
        return f"{field} is required."
    if error.validator == "additionalProperties":
        return f"{field} is not a recognised field."
    custom = error.schema.get("errorMessage") if isinstance(error.schema, dict) else None
    if custom:
        return f"{field} {custom}" if field else custom
    if field:
        return f"{field}: {error.message}"
    return error.message


class SchemaStore:
    """Compiled validators, one per schema, built once when the application starts."""

    def __init__(self, directory: Path | None = None):
        self.directory = directory or schemas_dir()
        self.schemas: dict[str, dict] = {}
        self._validators: dict[str, Draft202012Validator] = {}
        self._fast: dict[str, object] = {}
        for path in sorted(self.directory.glob("*.json")):
            self.add(path.stem, json.loads(path.read_text()))

    def add(self, name: str, schema: dict) -> None:
        """Check ``schema`` and compile a validator for it under ``name``."""
        Draft202012Validator.check_schema(schema)
        self.schemas[name] = schema
        self._validators[name] = Draft202012Validator(schema)
        self._fast.pop(name, None)
        if jsonschema_rs is not None:
            with contextlib.suppress(Exception):  # a schema it cannot compile is left to jsonschema alone
                self._fast[name] = jsonschema_rs.validator_for(schema, validate_formats=False)

    def validate(self, name: str, instance) -> None:
        """Raise :class:`ValidationError` (with ``field``) when ``instance`` does not match ``name``."""
        if self._fast_accepts(name, instance) and not CROSSCHECK:
            return
        error = best_match(self._validators[name].iter_errors(instance))
        if error is None:
            return
        if CROSSCHECK and self._fast_accepts(name, instance):
            raise AssertionError(f"jsonschema-rs accepted what jsonschema refuses for schema {name!r}: "
                                 f"{error.message} in {instance!r}")
        field = _field_of(error)
        raise ValidationError(_message_of(error, field), field=field)

    def _fast_accepts(self, name: str, instance) -> bool:
        fast = self._fast.get(name)
        if fast is None:
            return False
        try:
            return fast.is_valid(instance)
        except Exception:  # a value it cannot represent (an integer past 64 bits, say): ask jsonschema
            return False


def schema_name(action) -> str:
    """The name the action's schema is stored under in the schema store."""
    return action.schema if isinstance(action.schema, str) else f"action:{action.name}"


CATALOGUE = "x-herald-catalogue"


def fill_catalogue_enums(schemas: SchemaStore, catalogues: dict[str, list[str]]) -> None:
    """Give each part of a stored schema marked ``{"x-herald-catalogue": "<name>"}`` the enum
    ``catalogues[name]`` (the marker removed), and compile it again.

    For lists that plugins extend, such as the event types a webhook subscribes to: the schema file
    cannot know which plugins a server loads. A marker naming no catalogue stops start-up.
    """
    for name, schema in list(schemas.schemas.items()):
        filled = _filled(schema, catalogues, name)
        if filled is not schema:
            schemas.add(name, filled)


def _filled(node, catalogues: dict[str, list[str]], schema: str):
    """``node`` with its marked parts given their enums; ``node`` itself when nothing in it is marked."""
    if isinstance(node, list):
        items = [_filled(item, catalogues, schema) for item in node]
        return node if all(new is old for new, old in zip(items, node, strict=True)) else items
    if not isinstance(node, dict):
        return node
    changed = {key: _filled(value, catalogues, schema) for key, value in node.items()}
    if CATALOGUE in node:
        catalogue = changed.pop(CATALOGUE)
        if catalogue not in catalogues:
            raise RuntimeError(f"schema {schema!r} names the catalogue {catalogue!r}, which does not exist; "
                               f"there are {', '.join(sorted(catalogues))}")
        return {**changed, "enum": list(catalogues[catalogue])}
    return node if all(changed[key] is node[key] for key in node) else changed


def add_action_schemas(registry, schemas) -> None:
    """Compile the inline schemas of plugin actions; check that named ones exist."""
    for registered in registry.actions.values():
        action = registered.obj
        if isinstance(action.schema, dict):
            schemas.add(schema_name(action), action.schema)
        elif action.schema not in schemas.schemas:
            raise RuntimeError(f"action {action.name!r} of plugin {registered.plugin!r} names a schema "
                               f"{action.schema!r} that is not in schemas/")


def options_schema_name(platform: str) -> str:
    """The name a platform's ``options_schema`` is stored under in the schema store."""
    return f"platform_options:{platform}"


def add_platform_option_schemas(registry, schemas) -> None:
    """Compile each platform's ``options_schema`` (the options a post's variant for it may carry)."""
    for name, registered in registry.platforms.items():
        schema = getattr(registered.obj, "options_schema", None)
        if schema is not None:
            schemas.add(options_schema_name(name), schema)
