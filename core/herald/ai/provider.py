"""What AI provider plugins share with the core: the errors a generation can end in, and the check
that structured output matches the schema asked for.

Every error is a :class:`herald.errors.HeraldError`, so an endpoint that generates synchronously
answers with the envelope, and a background job records ``code`` and ``message`` as its error.
"""

from __future__ import annotations

from typing import Any, ClassVar

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError, best_match

from ..capabilities import placeholder
from ..errors import HeraldError
from ..outcomes import Generation, ProviderSettings

__all__ = ["AIBlocked", "AIInvalidOutput", "AIProvider", "AIProviderError", "AITruncated", "AIUnavailable",
           "Generation", "InvalidApiKey", "NoApiKey", "ProviderSettings", "UnknownModel", "check_output"]

SETTINGS_HINT = "PUT /api/settings"


class NoApiKey(HeraldError):
    """400: the workspace has no API key for its AI provider."""

    code = "no_api_key"


class InvalidApiKey(HeraldError):
    """400: the provider refused the workspace's API key."""

    code = "invalid_api_key"


class UnknownModel(HeraldError):
    """400: the provider has no such model (raised when settings are checked; ``field`` is the model setting)."""

    code = "validation_error"


class AIBlocked(HeraldError):
    """422: the provider refused to answer (safety, recitation, block lists); nothing was stored."""

    code = "ai_blocked"


class AITruncated(HeraldError):
    """502: the answer was cut off at the model's output limit; nothing was stored."""

    code = "ai_truncated"


class AIInvalidOutput(HeraldError):
    """502: the answer was not the JSON the schema asked for; nothing was stored."""

    code = "ai_invalid_output"


class AIUnavailable(HeraldError):
    """503: the provider is overloaded, rate-limited or unreachable, and nothing was generated (nothing
    paid). Raised after one attempt: a background job is tried again later by the work kernel, never
    by sleeping in the worker.

    ``retry_after`` is the wait the provider asked for, written as a ``Retry-After`` header is (a
    number of seconds or an HTTP date), or None; the core reads it (:func:`herald.work.parse_retry_after`).
    """

    code = "ai_unavailable"

    def __init__(self, message: str, *, retry_after: str | None = None, **kwargs: Any):
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class AIProviderError(HeraldError):
    """502: any other refusal by the provider (unknown model, permission, a bad request)."""

    code = "ai_provider_error"


class AIProvider:
    """Base class of an AI provider plugin: subclass it, set ``name``, write ``generate``.

    The core calls the provider only through :func:`herald.ai.generate`, after it checked the
    workspace's plan and found its API key (``no_api_key`` otherwise): ``settings`` always carries
    a key when the plugin declares one. The plugin declares the workspace's values (its ``api_key``,
    its ``model``) with :class:`herald.settings.WorkspaceSetting` through ``register_workspace_settings``.
    """

    #: The provider's name (``"acme"``), shown as ``ai_provider`` by ``GET /api/settings`` and named by
    #: ``HERALD_AI_PROVIDER`` when several providers are loaded.
    name: ClassVar[str] = ""
    #: The model used when the workspace chose none.
    default_model: ClassVar[str | None] = None

    @placeholder
    def generate(self, prompt: str, *, system: str | None = None, schema: dict | None = None,
                 settings: ProviderSettings) -> Generation:
        """One generation (required): text, and with ``schema`` (a JSON Schema) the parsed JSON in
        ``data``, checked with :func:`check_output`.

        Raise :class:`InvalidApiKey`, :class:`AIBlocked`, :class:`AITruncated`,
        :class:`AIInvalidOutput`, :class:`AIProviderError`, or :class:`AIUnavailable` (with the
        provider's ``retry_after``) when nothing was generated and a later attempt may succeed:
        never sleep and retry inside ``generate``, the work kernel tries background jobs again.
        """
        raise NotImplementedError

    @placeholder
    def check_settings(self, settings: ProviderSettings) -> None:
        """A free call made before a new key or model is stored: raise :class:`InvalidApiKey`,
        :class:`UnknownModel` or :class:`AIUnavailable` (the settings are then stored with a warning)."""
        raise NotImplementedError


def check_output(schema: dict, data: Any) -> Any:
    """``data`` when it matches ``schema``; :class:`AIInvalidOutput` naming the first problem otherwise."""
    try:
        validator = Draft202012Validator(schema)
        error = best_match(validator.iter_errors(data))
    except SchemaError as exc:  # a caller's bug, but never let it pass as "valid"
        raise AIInvalidOutput(f"The response schema is not a valid JSON Schema: {exc.message}") from None
    if error is not None:
        where = "/".join(str(part) for part in error.absolute_path) or "the answer"
        raise AIInvalidOutput(f"The AI answered JSON that does not match the schema asked for ({where}: "
                              f"{error.message}); nothing was stored. Try again.")
    return data
