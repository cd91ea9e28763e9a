"""Gemini AI provider for Herald: ``generateContent`` over HTTPS, JSON output with a response schema.

The API key and the model are per-workspace values the plugin declares (``gemini_api_key``, stored
encrypted, and ``gemini_model`` in ``PUT /api/settings``); the base URL is
``HERALD_GEMINI_BASE_URL`` (tests point it at a fake). A 429, 500, 503 or 504 answer or a lost
connection (nothing generated, nothing paid) raises ``AIUnavailable`` carrying the delay Gemini asks
for (``RetryInfo.retryDelay``, else ``Retry-After``): the background job making the call is tried
again by Herald's work kernel after that delay or its backoff. The provider never sleeps in a worker.
"""

from __future__ import annotations

from herald.sdk import (
    AIProvider,
    AIProviderError,
    AIUnavailable,
    Generation,
    InvalidApiKey,
    ProviderSettings,
    Setting,
    UnknownModel,
    WorkspaceSetting,
    hookimpl,
)

from . import api

# An alias Google keeps pointing at the current Flash model: a pinned id (gemini-2.5-flash) stops
# working when Google shuts it down; a workspace that wants a fixed model sets gemini_model.
DEFAULT_MODEL = "gemini-flash-latest"
RETRYABLE = frozenset({429, 500, 503, 504})
CHECK_TIMEOUT = 10.0  # seconds; a settings request waits for this check
BASE_URL = Setting("HERALD_GEMINI_BASE_URL", "https://generativelanguage.googleapis.com",
                   "Gemini API host; tests point it at a fake server")
API_KEY = WorkspaceSetting(
    name="api_key", field="gemini_api_key", secret=True,
    meaning="A Gemini API key from Google AI Studio; stored encrypted, shown masked. null (or \"\") removes it.",
    schema={"maxLength": 200, "pattern": "^\\s*[A-Za-z0-9_\\-.]*\\s*$",
            "errorMessage": "must be a Gemini API key (letters, digits, '-', '_', '.'), or null to remove it."})
MODEL = WorkspaceSetting(
    name="model", field="gemini_model", default=DEFAULT_MODEL,
    meaning=f"The Gemini model id, e.g. gemini-2.5-flash; null goes back to the default ({DEFAULT_MODEL}).",
    schema={"maxLength": 100, "pattern": "^[a-z0-9][a-z0-9.\\-]*$",
            "errorMessage": "must be a Gemini model id such as gemini-2.5-flash, or null for the default."})


class GeminiProvider(AIProvider):
    """Generates text and structured JSON with Google's Gemini API (one attempt per call)."""

    name = "gemini"
    default_model = DEFAULT_MODEL

    def __init__(self, *, timeout: float = 90.0):
        self.timeout = timeout

    def generate(self, prompt: str, *, system: str | None = None, schema: dict | None = None,
                 settings: ProviderSettings) -> Generation:
        """One generation; ``data`` is the parsed JSON when ``schema`` is given."""
        model = settings.model or DEFAULT_MODEL
        status, answer, headers = api.send(api.endpoint(BASE_URL.value(settings.config), model), settings.api_key,
                                           api.request_body(prompt, system, schema), self.timeout)
        if status == 200:
            text, data, (input_tokens, output_tokens) = api.read_answer(answer, schema)
            return Generation(text=text, data=data, provider=self.name, model=answer.get("modelVersion") or model,
                              input_tokens=input_tokens, output_tokens=output_tokens)
        if status is not None and status not in RETRYABLE:
            raise api.refusal(status, answer, model)
        what = {None: "did not answer", 429: "answered 429 (rate limit or quota)",
                503: "is overloaded (503)"}.get(status, f"failed (HTTP {status})")
        raise AIUnavailable(f"Gemini {what} ({api.error_message(answer)}). Nothing was generated.",
                            retry_after=api.retry_after(answer, headers))

    def check_settings(self, settings: ProviderSettings) -> None:
        """Ask Gemini whether the key works and the model exists, with ``models.get`` (no generation, no cost).

        Raises ``InvalidApiKey`` for a refused key, ``UnknownModel`` for a model Gemini does not have,
        ``AIUnavailable`` when Gemini cannot be reached or is overloaded (one attempt, no retries:
        someone is waiting on the answer), ``AIProviderError`` for any other refusal.
        """
        model = settings.model or DEFAULT_MODEL
        status, answer, _ = api.send(api.model_url(BASE_URL.value(settings.config), model), settings.api_key, None,
                                     min(self.timeout, CHECK_TIMEOUT))
        if status == 200:
            return
        if status is None or status in RETRYABLE:
            raise AIUnavailable(f"Gemini could not be asked whether the key works ({api.error_message(answer)}).")
        if isinstance(api.refusal(status, answer, model), InvalidApiKey):
            raise InvalidApiKey(f"Gemini refused this API key ({api.error_message(answer)}); nothing was stored. "
                                "Check that it is a Gemini API key from Google AI Studio.", field=API_KEY.field)
        if status == 404:
            default = " (the default)" if not settings.model else ""
            raise UnknownModel(f"Gemini has no model {model!r}{default} for this key ({api.error_message(answer)}). "
                               "Set gemini_model to a model the key can use, such as gemini-2.5-flash.",
                               field=MODEL.field)
        raise AIProviderError(f"Gemini refused to check the key (HTTP {status}): {api.error_message(answer)}")


@hookimpl
def register_ai_providers(register):
    """Provide the ``gemini`` AI provider."""
    register(GeminiProvider())


@hookimpl
def register_settings(register):
    """Declare ``HERALD_GEMINI_BASE_URL``."""
    register(BASE_URL)


@hookimpl
def register_workspace_settings(register):
    """Declare each workspace's Gemini API key (secret) and model."""
    register(API_KEY)
    register(MODEL)
