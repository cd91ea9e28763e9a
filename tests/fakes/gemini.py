"""A fake Gemini API (``models.generateContent``) on real HTTP, for tests.

::

    with FakeGemini() as fake:
        config = Config().with_settings(gemini_base_url=fake.base_url)   # key: fakes.gemini.API_KEY
        fake.reply_json({"hooks": [...]})                 # the next answer
        fake.fail(429, retry_delay="7s")                  # or an injected error first
        ...
        fake.requests[-1].body["generationConfig"]        # what the plugin sent

Behaviour follows /work/shared/research/platform-apis.md §5 and the "Gemini fake" checklist of §7:
``POST /v1beta/models/{model}:generateContent`` and ``GET /v1beta/models/{model}`` (``models.get``,
the model's description: what Herald asks when a key is saved; it costs no generation), with the
key in ``x-goog-api-key`` (or ``?key=``);
a missing key is 403 PERMISSION_DENIED, a wrong one 400 INVALID_ARGUMENT with reason
API_KEY_INVALID, a model that is not a ``gemini-*`` id (or is in ``unknown_models``) 404 NOT_FOUND.
Scripted replies are used in order; without one the fake answers a short text, or, when JSON was
asked for, an example built from the response schema. Errors use the documented envelope
``{"error": {"code", "message", "status", "details"}}``; a 429 carries QuotaFailure and, when
given, RetryInfo with ``retryDelay``. ``on_generate`` (a callable) runs while a generation request
is in flight, before it is answered: tests use it to act "mid-call" (flush Redis, kill a worker).
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from herald.fake_api import serve, shut

API_KEY = "AIzaSyTEST-fake-gemini-key-0000x9Q2"
ROUTE = re.compile(r"^/v1beta/models/(?P<model>[^/:]+):generateContent$")
MODEL_ROUTE = re.compile(r"^/v1beta/models/(?P<model>[^/:]+)$")
STATUS_NAMES = {400: "INVALID_ARGUMENT", 403: "PERMISSION_DENIED", 404: "NOT_FOUND", 429: "RESOURCE_EXHAUSTED",
                500: "INTERNAL", 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED"}
DEFAULT_MESSAGES = {
    400: "Request contains an invalid argument.",
    403: "The caller does not have permission",
    429: "You exceeded your current quota, please check your plan and billing details.",
    500: "An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting",
    503: "The model is overloaded. Please try again later.",
    504: "Deadline expired before operation could complete.",
}


@dataclasses.dataclass
class Reply:
    """One scripted answer: an error (``status`` other than 200) or a candidate."""

    status: int = 200
    text: str | None = None  # the candidate's text; None: built from the request
    data: Any = None  # JSON to answer (serialised into the text)
    finish_reason: str = "STOP"
    block_reason: str | None = None  # promptFeedback.blockReason: no candidates at all
    message: str | None = None  # error message
    retry_delay: str | None = None  # "7s": RetryInfo on an error
    usage: tuple[int, int] | None = None  # (promptTokenCount, candidatesTokenCount)
    thoughts_tokens: int = 0
    times: int = 1


@dataclasses.dataclass
class GeminiRequest:
    """One request as the fake received it."""

    model: str
    key: str | None
    headers: dict[str, str]  # names in lower case
    body: Any
    status: int  # what the fake answered
    method: str = "POST"  # GET: models.get

    @property
    def prompt(self) -> str:
        """The text of every part of ``contents``."""
        return "".join(part.get("text", "") for content in self.body.get("contents", [])
                       for part in content.get("parts", []))

    @property
    def system(self) -> str | None:
        """The text of ``systemInstruction``, if any."""
        instruction = self.body.get("systemInstruction")
        return None if instruction is None else "".join(p.get("text", "") for p in instruction.get("parts", []))


def example_for(schema: dict | None) -> Any:
    """A value matching a simple JSON Schema (or an upper-case ``responseSchema``)."""
    schema = schema or {}
    kind = str(schema.get("type", "object")).lower()
    if "enum" in schema:
        return schema["enum"][0]
    if kind == "object":
        properties = schema.get("properties") or {}
        return {name: example_for(sub) for name, sub in properties.items()}
    if kind == "array":
        count = max(int(schema.get("minItems", 1)), 1)
        items = schema.get("items") or {}
        return [_distinct(example_for(items), n) for n in range(count)]
    if kind == "string":
        text = "example"
        return text + "x" * max(0, int(schema.get("minLength", 0)) - len(text))
    if kind in ("integer", "number"):
        return schema.get("minimum", 1)
    if kind == "boolean":
        return True
    return None


def _distinct(value: Any, n: int) -> Any:
    if isinstance(value, str):
        return f"{value} {n + 1}"
    if isinstance(value, dict):
        return {key: _distinct(item, n) for key, item in value.items()}
    return value


def _tokens(text: str) -> int:
    return max(1, math.ceil(len(text) / 4))


class FakeGemini:
    """See the module docstring."""

    def __init__(self, *, keys: tuple[str, ...] = (API_KEY,), unknown_models: tuple[str, ...] = ("gemini-0-unknown",)):
        self.keys = set(keys)
        self.unknown_models = set(unknown_models)
        self.script: list[Reply] = []
        self.on_generate: Any = None  # called (no arguments) while a generation is in flight
        self.check_status: int | None = None  # models.get answers this error (after the key and model checks)
        self.requests: list[GeminiRequest] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    # -- lifecycle ----------------------------------------------------------------------------------

    def __enter__(self) -> FakeGemini:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's naming)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                if fake.on_generate is not None and ROUTE.match(urlsplit(self.path).path):
                    fake.on_generate()
                self._send(*fake._handle(self.path, dict(self.headers.items()), raw))

            def do_GET(self):  # noqa: N802
                self._send(*fake._handle_get(self.path, dict(self.headers.items())))

            def _send(self, status, answer):
                payload = json.dumps(answer).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json; charset=UTF-8")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except OSError:
                    pass  # the caller is gone (a killed worker)

            def log_message(self, *args):
                pass

        self._server = serve(Handler, "fake-gemini")
        return self

    def __exit__(self, *exc) -> None:
        if self._server is not None:
            shut(self._server)
            self._server = None

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT`` (what ``Config.gemini_base_url`` takes)."""
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def generations(self) -> list[GeminiRequest]:
        """The ``generateContent`` requests received (``requests`` also holds ``models.get`` checks)."""
        return [request for request in self.requests if request.method == "POST"]

    # -- scripting ----------------------------------------------------------------------------------

    def reply_text(self, text: str, *, times: int = 1, usage: tuple[int, int] | None = None) -> None:
        """Answer the next ``times`` generations with ``text``."""
        self.script.append(Reply(text=text, usage=usage, times=times))

    def reply_json(self, data: Any, *, times: int = 1, usage: tuple[int, int] | None = None) -> None:
        """Answer the next ``times`` generations with ``data`` as JSON text."""
        self.script.append(Reply(data=data, usage=usage, times=times))

    def finish(self, reason: str, *, text: str | None = None) -> None:
        """The next candidate ends with ``finishReason`` ``reason`` (``MAX_TOKENS`` cuts the text in half)."""
        self.script.append(Reply(text=text, finish_reason=reason))

    def block_prompt(self, reason: str = "SAFETY") -> None:
        """The next prompt is refused: HTTP 200, no candidates, ``promptFeedback.blockReason``."""
        self.script.append(Reply(block_reason=reason))

    def fail(self, status: int, *, times: int = 1, retry_delay: str | None = None, message: str | None = None) -> None:
        """Answer the next ``times`` requests (that pass the key and model checks) with an HTTP error."""
        self.script.append(Reply(status=status, retry_delay=retry_delay, message=message, times=times))

    # -- serving ------------------------------------------------------------------------------------

    def _next(self) -> Reply | None:
        with self._lock:
            if not self.script:
                return None
            reply = self.script[0]
            reply.times -= 1
            if reply.times <= 0:
                self.script.pop(0)
            return dataclasses.replace(reply, times=1)

    def _handle(self, path: str, headers: dict[str, str], raw: bytes) -> tuple[int, dict]:
        parts = urlsplit(path)
        match = ROUTE.match(parts.path)
        lowered = {name.lower(): value for name, value in headers.items()}
        key = lowered.get("x-goog-api-key") or (parse_qs(parts.query).get("key") or [None])[0]
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            body = None
        model = match.group("model") if match else ""
        status, answer = self._answer(match, model, key, body)
        with self._lock:
            self.requests.append(GeminiRequest(model, key, lowered, body, status))
        return status, answer

    def _handle_get(self, path: str, headers: dict[str, str]) -> tuple[int, dict]:
        """``models.get``: the same key and model checks as a generation, then the model's description."""
        parts = urlsplit(path)
        match = MODEL_ROUTE.match(parts.path)
        lowered = {name.lower(): value for name, value in headers.items()}
        key = lowered.get("x-goog-api-key") or (parse_qs(parts.query).get("key") or [None])[0]
        model = match.group("model") if match else ""
        status, answer = self._checked(match, model, key, "get")
        if status == 200 and self.check_status:
            status, answer = self._error(self.check_status, None, model=model)
        elif status == 200:
            answer = {"name": f"models/{model}", "version": "001", "displayName": model,
                      "description": "A fake Gemini model.", "inputTokenLimit": 1048576, "outputTokenLimit": 65536,
                      "supportedGenerationMethods": ["generateContent", "countTokens"]}
        with self._lock:
            self.requests.append(GeminiRequest(model, key, lowered, None, status, method="GET"))
        return status, answer

    def _checked(self, match, model: str, key: str | None, method: str) -> tuple[int, dict]:
        """The key and model checks every route makes; ``(200, {})`` when both pass."""
        if match is None:
            return self._error(404, f"Method not found: {model or 'unknown path'}.")
        if not key:
            return self._error(403, "Method doesn't allow unregistered callers (callers without established identity)."
                                    " Please use API Key or other form of API consumer identity to call this API.")
        if key not in self.keys:
            return self._error(400, "API key not valid. Please pass a valid API key.", reason="API_KEY_INVALID")
        if not model.startswith("gemini-") or model in self.unknown_models:
            supported = ", or is not supported for generateContent" if method == "generate" else ""
            return self._error(404, f"models/{model} is not found for API version v1beta{supported}. Call "
                                    "ListModels to see the list of available models and their supported methods.")
        return 200, {}

    def _answer(self, match, model: str, key: str | None, body: Any) -> tuple[int, dict]:
        status, answer = self._checked(match, model, key, "generate")
        if status != 200:
            return status, answer
        problem = self._invalid(body)
        if problem:
            return self._error(400, problem)
        reply = self._next() or Reply()
        if reply.status != 200:
            return self._error(reply.status, reply.message, retry_delay=reply.retry_delay, model=model)
        return 200, self._candidate(reply, model, body)

    @staticmethod
    def _invalid(body: Any) -> str | None:
        if not isinstance(body, dict):
            return "Invalid JSON payload received."
        contents = body.get("contents")
        if not isinstance(contents, list) or not contents:
            return "* GenerateContentRequest.contents: contents is not specified"
        config = body.get("generationConfig") or {}
        if ("responseSchema" in config or "responseJsonSchema" in config) \
                and config.get("responseMimeType") != "application/json":
            return "* GenerateContentRequest.generation_config.response_mime_type: must be application/json " \
                   "when a response schema is set"
        if "responseSchema" in config and "responseJsonSchema" in config:
            return "responseSchema and responseJsonSchema cannot both be set"
        return None

    def _candidate(self, reply: Reply, model: str, body: dict) -> dict:
        request_text = json.dumps(body.get("contents")) + json.dumps(body.get("systemInstruction") or "")
        prompt_tokens = reply.usage[0] if reply.usage else _tokens(request_text)
        answer: dict[str, Any] = {"modelVersion": model, "responseId": f"fake-{len(self.requests) + 1}"}
        if reply.block_reason:
            answer["promptFeedback"] = {"blockReason": reply.block_reason}
            answer["usageMetadata"] = {"promptTokenCount": prompt_tokens, "totalTokenCount": prompt_tokens}
            return answer
        config = body.get("generationConfig") or {}
        wants_json = config.get("responseMimeType") == "application/json"
        if reply.text is not None:
            text = reply.text
        elif reply.data is not None:
            text = json.dumps(reply.data)
        elif wants_json:
            text = json.dumps(example_for(config.get("responseJsonSchema") or config.get("responseSchema")))
        else:
            text = "A fake Gemini answer."
        if reply.finish_reason == "MAX_TOKENS":
            text = text[: len(text) // 2]
        output_tokens = reply.usage[1] if reply.usage else _tokens(text)
        candidate: dict[str, Any] = {"content": {"role": "model", "parts": [{"text": text}]},
                                     "finishReason": reply.finish_reason, "index": 0}
        if reply.finish_reason in ("SAFETY", "PROHIBITED_CONTENT", "BLOCKLIST", "SPII"):
            candidate["content"] = {"role": "model"}  # blocked candidates come without parts
            candidate["safetyRatings"] = [{"category": "HARM_CATEGORY_HARASSMENT", "probability": "HIGH",
                                           "blocked": True}]
        answer["candidates"] = [candidate]
        answer["usageMetadata"] = {"promptTokenCount": prompt_tokens, "candidatesTokenCount": output_tokens,
                                   "thoughtsTokenCount": reply.thoughts_tokens,
                                   "totalTokenCount": prompt_tokens + output_tokens + reply.thoughts_tokens,
                                   "promptTokensDetails": [{"modality": "TEXT", "tokenCount": prompt_tokens}]}
        return answer

    @staticmethod
    def _error(status: int, message: str | None, *, reason: str | None = None, retry_delay: str | None = None,
               model: str = "") -> tuple[int, dict]:
        details: list[dict] = []
        if reason:
            details.append({"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": reason,
                            "domain": "googleapis.com", "metadata": {"service": "generativelanguage.googleapis.com"}})
        if status == 429:
            details.append({"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": [{
                "quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests",
                "quotaId": "GenerateRequestsPerMinutePerProjectPerModel-FreeTier",
                "quotaDimensions": {"location": "global", "model": model}, "quotaValue": "10"}]})
        if retry_delay:
            details.append({"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": retry_delay})
        error = {"code": status, "message": message or DEFAULT_MESSAGES.get(status, "Error."),
                 "status": STATUS_NAMES.get(status, "UNKNOWN")}
        if details:
            error["details"] = details
        return status, {"error": error}
