"""Gemini AI provider for Herald: ``generateContent`` over HTTPS, JSON output with a response schema.

The API key and the model are per-workspace settings (``PUT /api/settings``); the base URL is
``HERALD_GEMINI_BASE_URL`` (tests point it at a fake). 429, 500, 503 and 504 answers and lost
connections are retried after the delay Gemini asks for (``RetryInfo.retryDelay``), or with
exponential backoff, within a bounded total wait; other errors are not retried.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from herald import hookimpl
from herald.ai_provider import AIProviderError, AIUnavailable, Generation, InvalidApiKey, ProviderSettings, UnknownModel

from . import api

# An alias Google keeps pointing at the current Flash model: a pinned id (gemini-2.5-flash) stops
# working when Google shuts it down; a workspace that wants a fixed model sets gemini_model.
DEFAULT_MODEL = "gemini-flash-latest"
RETRYABLE = frozenset({429, 500, 503, 504})
CHECK_TIMEOUT = 10.0  # seconds; a settings request waits for this check


class GeminiProvider:
    """Generates text and structured JSON with Google's Gemini API.

    ``sleep`` is how the provider waits between attempts (tests pass one that records instead of
    sleeping); ``retry_budget`` bounds the total wait in seconds, ``max_attempts`` the calls.
    """

    name = "gemini"
    default_model = DEFAULT_MODEL

    def __init__(self, *, sleep: Callable[[float], None] = time.sleep, max_attempts: int = 5,
                 retry_budget: float = 60.0, timeout: float = 90.0):
        self.sleep = sleep
        self.max_attempts = max_attempts
        self.retry_budget = retry_budget
        self.timeout = timeout

    def backoff(self, attempt: int) -> float:
        """Seconds before attempt ``attempt + 1`` when Gemini names no delay: 1, 2, 4, 8 … up to 30."""
        return float(min(2 ** (attempt - 1), 30))

    def generate(self, prompt: str, *, system: str | None = None, schema: dict | None = None,
                 settings: ProviderSettings) -> Generation:
        """One generation; ``data`` is the parsed JSON when ``schema`` is given."""
        model = settings.model or DEFAULT_MODEL
        url = api.endpoint(settings.config.gemini_base_url, model)
        body = api.request_body(prompt, system, schema)
        waited = 0.0
        for attempt in range(1, self.max_attempts + 1):
            status, answer, headers = api.send(url, settings.api_key, body, self.timeout)
            if status == 200:
                text, data, (input_tokens, output_tokens) = api.read_answer(answer, schema)
                return Generation(text=text, data=data, provider=self.name, model=answer.get("modelVersion") or model,
                                  input_tokens=input_tokens, output_tokens=output_tokens)
            if status is not None and status not in RETRYABLE:
                raise api.refusal(status, answer, model)
            delay = api.retry_delay(answer, headers)
            delay = self.backoff(attempt) if delay is None else delay
            if attempt == self.max_attempts or waited + delay > self.retry_budget:
                raise self._gave_up(status, answer, attempt, delay)
            self.sleep(delay)
            waited += delay
        raise AssertionError("unreachable")  # the loop returns or raises

    def check_settings(self, settings: ProviderSettings) -> None:
        """Ask Gemini whether the key works and the model exists, with ``models.get`` (no generation, no cost).

        Raises ``InvalidApiKey`` for a refused key, ``UnknownModel`` for a model Gemini does not have,
        ``AIUnavailable`` when Gemini cannot be reached or is overloaded (one attempt, no retries:
        someone is waiting on the answer), ``AIProviderError`` for any other refusal.
        """
        model = settings.model or DEFAULT_MODEL
        status, answer, _ = api.send(api.model_url(settings.config.gemini_base_url, model), settings.api_key, None,
                                     min(self.timeout, CHECK_TIMEOUT))
        if status == 200:
            return
        if status is None or status in RETRYABLE:
            raise AIUnavailable(f"Gemini could not be asked whether the key works ({api.error_message(answer)}).")
        if isinstance(api.refusal(status, answer, model), InvalidApiKey):
            raise InvalidApiKey(f"Gemini refused this API key ({api.error_message(answer)}); nothing was stored. "
                                "Check that it is a Gemini API key from Google AI Studio.", field="gemini_api_key")
        if status == 404:
            default = " (the default)" if not settings.model else ""
            raise UnknownModel(f"Gemini has no model {model!r}{default} for this key ({api.error_message(answer)}). "
                               "Set gemini_model to a model the key can use, such as gemini-2.5-flash.",
                               field="gemini_model")
        raise AIProviderError(f"Gemini refused to check the key (HTTP {status}): {api.error_message(answer)}")

    def _gave_up(self, status: int | None, answer: dict, attempts: int, delay: float) -> AIUnavailable:
        what = {None: "did not answer", 429: "kept answering 429 (rate limit or quota)",
                503: "stayed overloaded (503)"}.get(status, f"kept failing (HTTP {status})")
        if attempts == self.max_attempts:
            when = f"in {attempts} attempts"
        else:
            when = f"and asked to wait {delay:g} s more, past the {self.retry_budget:g} s Herald waits"
        return AIUnavailable(f"Gemini {what} {when} ({api.error_message(answer)}). Nothing was generated; "
                             "try again later.")


@hookimpl
def register_ai_providers(register):
    """Provide the ``gemini`` AI provider."""
    register(GeminiProvider())
