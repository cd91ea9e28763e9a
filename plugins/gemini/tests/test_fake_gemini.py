"""The fake Gemini API answers in the documented shapes (research file §5 and the §7 checklist)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from fakes.gemini import API_KEY, FakeGemini


@pytest.fixture
def fake():
    with FakeGemini() as server:
        yield server


def call(fake, body=None, *, model="gemini-flash-latest", key=API_KEY, path=None, query=""):
    url = fake.base_url + (path or f"/v1beta/models/{model}:generateContent") + query
    headers = {"Content-Type": "application/json"}
    if key is not None:
        headers["x-goog-api-key"] = key
    body = body if body is not None else {"contents": [{"role": "user", "parts": [{"text": "Hello"}]}]}
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, json.loads(exc.read())


def test_text_answer_has_candidates_usage_and_model_version(fake):
    fake.reply_text("Sunny days ahead", usage=(21, 17))
    status, answer = call(fake)
    assert status == 200
    candidate = answer["candidates"][0]
    assert candidate["content"] == {"role": "model", "parts": [{"text": "Sunny days ahead"}]}
    assert candidate["finishReason"] == "STOP" and candidate["index"] == 0
    usage = answer["usageMetadata"]
    assert (usage["promptTokenCount"], usage["candidatesTokenCount"], usage["totalTokenCount"]) == (21, 17, 38)
    assert answer["modelVersion"] == "gemini-flash-latest"


def test_json_mode_returns_scripted_json_text_and_records_the_request(fake):
    fake.reply_json({"caption": "Hi", "hashtags": ["#a"]})
    schema = {"type": "object", "properties": {"caption": {"type": "string"}}, "required": ["caption"]}
    body = {"contents": [{"role": "user", "parts": [{"text": "Write"}]}],
            "systemInstruction": {"parts": [{"text": "You are a copywriter."}]},
            "generationConfig": {"responseMimeType": "application/json", "responseJsonSchema": schema}}
    status, answer = call(fake, body)
    assert status == 200
    assert json.loads(answer["candidates"][0]["content"]["parts"][0]["text"]) == {"caption": "Hi", "hashtags": ["#a"]}
    recorded = fake.requests[-1]
    assert recorded.key == API_KEY and recorded.prompt == "Write" and recorded.system == "You are a copywriter."
    assert recorded.body["generationConfig"]["responseJsonSchema"] == schema


def test_json_mode_without_script_answers_an_example_of_the_schema(fake):
    schema = {"type": "object", "properties": {"hooks": {"type": "array", "minItems": 3,
                                                         "items": {"type": "string"}}}}
    body = {"contents": [{"role": "user", "parts": [{"text": "x"}]}],
            "generationConfig": {"responseMimeType": "application/json", "responseJsonSchema": schema}}
    _, answer = call(fake, body)
    data = json.loads(answer["candidates"][0]["content"]["parts"][0]["text"])
    assert data == {"hooks": ["example 1", "example 2", "example 3"]}


def test_missing_key_is_403_and_wrong_key_is_400_api_key_invalid(fake):
    status, answer = call(fake, key=None)
    assert status == 403 and answer["error"]["status"] == "PERMISSION_DENIED"
    assert "unregistered callers" in answer["error"]["message"]
    status, answer = call(fake, key="AIza-wrong")
    assert status == 400 and answer["error"]["status"] == "INVALID_ARGUMENT"
    assert answer["error"]["message"] == "API key not valid. Please pass a valid API key."
    assert answer["error"]["details"][0]["reason"] == "API_KEY_INVALID"


def test_key_in_query_parameter_is_accepted(fake):
    status, _ = call(fake, key=None, query=f"?key={API_KEY}")
    assert status == 200


def test_unknown_model_is_404_not_found(fake):
    status, answer = call(fake, model="gemini-0-unknown")
    assert status == 404 and answer["error"]["status"] == "NOT_FOUND"
    assert "models/gemini-0-unknown is not found for API version v1beta" in answer["error"]["message"]
    assert call(fake, model="gpt-4")[0] == 404


def test_injected_429_carries_quota_failure_and_retry_info_then_success(fake):
    fake.fail(429, retry_delay="7s")
    status, answer = call(fake)
    assert status == 429 and answer["error"]["status"] == "RESOURCE_EXHAUSTED" and answer["error"]["code"] == 429
    types = [detail["@type"] for detail in answer["error"]["details"]]
    assert types == ["type.googleapis.com/google.rpc.QuotaFailure", "type.googleapis.com/google.rpc.RetryInfo"]
    assert answer["error"]["details"][1]["retryDelay"] == "7s"
    assert call(fake)[0] == 200


@pytest.mark.parametrize(("status", "name"), [(400, "INVALID_ARGUMENT"), (403, "PERMISSION_DENIED"),
                                              (500, "INTERNAL"), (503, "UNAVAILABLE"), (504, "DEADLINE_EXCEEDED")])
def test_injected_errors_use_the_documented_envelope(fake, status, name):
    fake.fail(status, times=2)
    for _ in range(2):
        got, answer = call(fake)
        assert got == status and answer["error"]["code"] == status and answer["error"]["status"] == name
    assert call(fake)[0] == 200


def test_blocked_prompt_has_no_candidates_and_a_block_reason(fake):
    fake.block_prompt("PROHIBITED_CONTENT")
    status, answer = call(fake)
    assert status == 200 and "candidates" not in answer
    assert answer["promptFeedback"] == {"blockReason": "PROHIBITED_CONTENT"}


def test_safety_finish_has_no_parts_and_max_tokens_cuts_the_text(fake):
    fake.finish("SAFETY")
    _, answer = call(fake)
    assert answer["candidates"][0]["finishReason"] == "SAFETY" and "parts" not in answer["candidates"][0]["content"]
    fake.finish("MAX_TOKENS", text='{"hooks": ["one", "two"]}')
    _, answer = call(fake)
    assert answer["candidates"][0]["finishReason"] == "MAX_TOKENS"
    assert answer["candidates"][0]["content"]["parts"][0]["text"] == '{"hooks": ["'


def test_request_without_contents_or_schema_without_json_mime_is_400(fake):
    assert call(fake, {"contents": []})[0] == 400
    body = {"contents": [{"parts": [{"text": "x"}]}], "generationConfig": {"responseJsonSchema": {}}}
    assert call(fake, body)[0] == 400
