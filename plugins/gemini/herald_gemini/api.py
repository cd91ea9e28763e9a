"""Talking to the Gemini API: one ``generateContent`` request, and reading its answer or its error.

Request and answer shapes follow the Gemini API reference (``models.generateContent``): the key in
the ``x-goog-api-key`` header, ``systemInstruction``, and for structured output
``generationConfig.responseMimeType = "application/json"`` with ``responseJsonSchema`` (plain JSON
Schema, so the caller's schema is sent as it is and checked again here).
"""

from __future__ import annotations

import json
import math
import re
import urllib.parse
from typing import Any

from herald.sdk import (
    AIBlocked,
    AIInvalidOutput,
    AIProviderError,
    AITruncated,
    HeraldError,
    InvalidApiKey,
    check_output,
    http,
)

USER_AGENT = "herald-gemini/0.2"
SETTINGS_HINT = "PUT /api/settings"  # where a workspace's admin sets the Gemini key and model
# finishReason / blockReason values meaning the model or its filters refused to answer.
BLOCKED = frozenset({"SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY",
                     "IMAGE_PROHIBITED_CONTENT", "IMAGE_RECITATION"})
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)s\s*$")


def endpoint(base_url: str, model: str) -> str:
    """``{base}/v1beta/models/{model}:generateContent``."""
    return f"{base_url.rstrip('/')}/v1beta/models/{urllib.parse.quote(model, safe='')}:generateContent"


def model_url(base_url: str, model: str) -> str:
    """``{base}/v1beta/models/{model}`` (``models.get``: the model's description, no generation)."""
    return f"{base_url.rstrip('/')}/v1beta/models/{urllib.parse.quote(model, safe='')}"


def request_body(prompt: str, system: str | None, schema: dict | None) -> dict[str, Any]:
    """The JSON body of a ``generateContent`` request."""
    body: dict[str, Any] = {"contents": [{"role": "user", "parts": [{"text": prompt}]}]}
    if system:
        body["systemInstruction"] = {"parts": [{"text": system}]}
    if schema is not None:
        body["generationConfig"] = {"responseMimeType": "application/json", "responseJsonSchema": schema}
    return body


def send(url: str, api_key: str, body: dict[str, Any] | None,
         timeout: float) -> tuple[int | None, dict[str, Any], dict]:
    """POST ``body`` (GET when it is None); ``(status, JSON answer, headers)``. Status None: no answer
    (connection failed, timed out)."""
    headers = {"x-goog-api-key": api_key, "Accept": "application/json", "User-Agent": USER_AGENT}
    if body is not None:
        headers["Content-Type"] = "application/json"
    try:
        answer = http.request("GET" if body is None else "POST", url, headers=headers, timeout=timeout,
                              body=None if body is None else json.dumps(body).encode())
    except (http.SendFailed, http.AnswerLost) as exc:
        return None, {"error": {"message": str(exc.reason) or type(exc.reason).__name__}}, {}
    return answer.status, _json(answer.body), answer.headers


def _json(raw: bytes) -> dict[str, Any]:
    try:
        answer = json.loads(raw)
    except ValueError:
        return {"error": {"message": raw[:200].decode("utf-8", "replace") or "an empty answer"}}
    return answer if isinstance(answer, dict) else {"error": {"message": "an answer that is not a JSON object"}}


def error_message(answer: dict[str, Any]) -> str:
    """Gemini's own message from an error answer."""
    error = answer.get("error") if isinstance(answer.get("error"), dict) else {}
    return str(error.get("message") or "no message").strip()


def retry_after(answer: dict[str, Any], headers: dict) -> str | None:
    """The wait Gemini asks for, as a ``Retry-After`` value: ``google.rpc.RetryInfo.retryDelay``
    (``"22s"`` becomes ``"22"``), else the ``Retry-After`` header as sent (Herald reads it)."""
    error = answer.get("error") if isinstance(answer.get("error"), dict) else {}
    for detail in error.get("details") or []:
        if isinstance(detail, dict) and str(detail.get("@type", "")).endswith("google.rpc.RetryInfo"):
            match = _DURATION.match(str(detail.get("retryDelay", "")))
            if match:
                return str(math.ceil(float(match.group(1))))
    return {k.lower(): v for k, v in headers.items()}.get("retry-after")


def _reason(answer: dict[str, Any]) -> str | None:
    error = answer.get("error") if isinstance(answer.get("error"), dict) else {}
    for detail in error.get("details") or []:
        if isinstance(detail, dict) and detail.get("reason"):
            return str(detail["reason"])
    return None


def refusal(status: int, answer: dict[str, Any], model: str) -> HeraldError:
    """The error for a 4xx answer that retrying cannot fix."""
    message = error_message(answer)
    if status == 400 and (_reason(answer) == "API_KEY_INVALID" or "API key not valid" in message):
        return InvalidApiKey(f"Gemini refused the workspace's API key ({message}). Fix it with {SETTINGS_HINT} "
                             "{\"gemini_api_key\": \"…\"}.", field="gemini_api_key")
    if status in (401, 403):
        return InvalidApiKey(f"Gemini refused the workspace's API key: {message} Check that the key is a Gemini "
                             f"API key with access to the model, and fix it with {SETTINGS_HINT}.",
                             field="gemini_api_key")
    if status == 404:
        return AIProviderError(f"Gemini has no model {model!r} ({message}). Choose another with {SETTINGS_HINT} "
                               "{\"gemini_model\": \"…\"}, or null for the default.", field="gemini_model")
    return AIProviderError(f"Gemini refused the request (HTTP {status}): {message}")


def _with_usage(error: HeraldError, usage: tuple[int, int]) -> HeraldError:
    error.usage = usage  # the tokens the refused answer still cost, for the usage record
    return error


def usage_of(answer: dict[str, Any]) -> tuple[int, int]:
    """``(input, output)`` tokens from ``usageMetadata``; thinking tokens are billed as output."""
    usage = answer.get("usageMetadata") or {}
    output = int(usage.get("candidatesTokenCount") or 0) + int(usage.get("thoughtsTokenCount") or 0)
    return int(usage.get("promptTokenCount") or 0), output


def _strip_fences(text: str) -> str:
    stripped = text.strip()
    if stripped.startswith("```"):
        stripped = re.sub(r"^```[a-zA-Z]*\s*|\s*```$", "", stripped)
    return stripped


def read_answer(answer: dict[str, Any], schema: dict | None) -> tuple[str, Any, tuple[int, int]]:
    """``(text, data, usage)`` of a 200 answer; raises ``ai_blocked``, ``ai_truncated``, ``ai_invalid_output``."""
    usage = usage_of(answer)
    block = (answer.get("promptFeedback") or {}).get("blockReason")
    if block:
        raise _with_usage(AIBlocked(f"Gemini refused the prompt (blockReason {block}). Nothing was generated or "
                                    "stored; rephrase the input (brand voice, page text) and try again."), usage)
    candidates = answer.get("candidates") or []
    if not candidates:
        raise _with_usage(AIProviderError("Gemini answered without any candidate text."), usage)
    candidate = candidates[0]
    reason = candidate.get("finishReason") or "STOP"
    if reason in BLOCKED:
        raise _with_usage(AIBlocked(f"Gemini stopped its answer for {reason}. Nothing was stored; rephrase the "
                                    "input and try again."), usage)
    if reason == "MAX_TOKENS":
        raise _with_usage(AITruncated("Gemini's answer was cut off at the model's output limit (MAX_TOKENS). "
                                      "Nothing was stored; ask for less (a smaller count) and try again."), usage)
    parts = (candidate.get("content") or {}).get("parts") or []
    text = "".join(part.get("text", "") for part in parts if isinstance(part, dict) and not part.get("thought"))
    if reason != "STOP":
        raise _with_usage(AIProviderError(f"Gemini stopped its answer early (finishReason {reason})."), usage)
    if not text.strip():
        raise _with_usage(AIProviderError("Gemini answered with empty text."), usage)
    if schema is None:
        return text, None, usage
    try:
        data = json.loads(_strip_fences(text))
    except ValueError as exc:
        raise _with_usage(AIInvalidOutput(f"Gemini's answer is not valid JSON ({exc}); nothing was stored. "
                                          "Try again."), usage) from None
    try:
        check_output(schema, data)
    except HeraldError as exc:
        raise _with_usage(exc, usage) from None
    return text, data, usage
