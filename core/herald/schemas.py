"""JSON Schemas from ``schemas/``: loaded by name and compiled once (draft 2020-12).

Validation failures become a 400 ``validation_error`` whose ``field`` points at the offending
property (dotted path, ``media.0``), so a client can fix its request without guessing.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

from .errors import ValidationError


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
        for path in sorted(self.directory.glob("*.json")):
            self.add(path.stem, json.loads(path.read_text()))

    def add(self, name: str, schema: dict) -> None:
        """Check ``schema`` and compile a validator for it under ``name``."""
        Draft202012Validator.check_schema(schema)
        self.schemas[name] = schema
        self._validators[name] = Draft202012Validator(schema)

    def validate(self, name: str, instance) -> None:
        """Raise :class:`ValidationError` (with ``field``) when ``instance`` does not match ``name``."""
        validator = self._validators[name]
        error = best_match(validator.iter_errors(instance))
        if error is None:
            return
        field = _field_of(error)
        raise ValidationError(_message_of(error, field), field=field)
