"""The Gemini provider plugin against the fake Gemini API: request mapping, retries, errors."""

from __future__ import annotations

import socket

import pytest

from ai_drive import set_key
from fakes.gemini import API_KEY
from herald.ai_provider import ProviderSettings
from herald.config import Config
from herald.errors import HeraldError
from herald.models import AIGeneration, db
from herald_gemini import DEFAULT_MODEL, GeminiProvider

SCHEMA = {"type": "object", "required": ["caption", "hashtags"],
          "properties": {"caption": {"type": "string"}, "hashtags": {"type": "array", "items": {"type": "string"}}}}


@pytest.fixture
def slept():
    return []


@pytest.fixture
def provider(slept):
    return GeminiProvider(sleep=slept.append)


def settings(fake, key=API_KEY, model=None):
    return ProviderSettings(api_key=key, model=model, config=Config(gemini_base_url=fake.base_url))


def test_text_generation_sends_prompt_system_and_key(provider, gemini):
    gemini.reply_text("Sunny days ahead", usage=(21, 17))
    result = provider.generate("Write a caption", system="You are a copywriter.", settings=settings(gemini))
    assert (result.text, result.data, result.model) == ("Sunny days ahead", None, DEFAULT_MODEL)
    assert (result.input_tokens, result.output_tokens) == (21, 17)
    [request] = gemini.requests
    assert request.model == DEFAULT_MODEL and request.key == API_KEY
    assert request.headers.get("x-goog-api-key") == API_KEY
    assert request.body == {"contents": [{"role": "user", "parts": [{"text": "Write a caption"}]}],
                            "systemInstruction": {"parts": [{"text": "You are a copywriter."}]}}


def test_schema_asks_for_json_and_the_answer_is_parsed(provider, gemini):
    gemini.reply_json({"caption": "Hi", "hashtags": ["#a"]})
    result = provider.generate("x", schema=SCHEMA, settings=settings(gemini, model="gemini-2.5-flash"))
    assert result.data == {"caption": "Hi", "hashtags": ["#a"]} and result.model == "gemini-2.5-flash"
    config = gemini.requests[0].body["generationConfig"]
    assert config == {"responseMimeType": "application/json", "responseJsonSchema": SCHEMA}
    assert gemini.requests[0].model == "gemini-2.5-flash"


def test_thinking_tokens_count_as_output(provider, gemini):
    from fakes.gemini import Reply

    gemini.script.append(Reply(text="ok", usage=(8947, 363), thoughts_tokens=1510))
    result = provider.generate("x", settings=settings(gemini))
    assert (result.input_tokens, result.output_tokens) == (8947, 363 + 1510)


def test_429_waits_the_retry_delay_gemini_asks_for_then_succeeds(provider, gemini, slept):
    gemini.fail(429, retry_delay="7s")
    gemini.reply_text("after the wait")
    assert provider.generate("x", settings=settings(gemini)).text == "after the wait"
    assert slept == [7.0] and [r.status for r in gemini.requests] == [429, 200]


@pytest.mark.parametrize("status", [500, 503, 504])
def test_server_errors_back_off_exponentially(provider, gemini, slept, status):
    gemini.fail(status, times=3)
    assert provider.generate("x", settings=settings(gemini)).text
    assert slept == [1.0, 2.0, 4.0] and len(gemini.requests) == 4


def test_a_delay_past_the_budget_gives_up_at_once(provider, gemini, slept):
    gemini.fail(429, retry_delay="3600s")
    with pytest.raises(HeraldError) as caught:
        provider.generate("x", settings=settings(gemini))
    assert caught.value.code == "ai_unavailable" and "3600 s" in caught.value.message
    assert slept == [] and len(gemini.requests) == 1


def test_attempts_are_bounded(provider, gemini, slept):
    gemini.fail(503, times=10)
    with pytest.raises(HeraldError) as caught:
        provider.generate("x", settings=settings(gemini))
    assert caught.value.code == "ai_unavailable" and "overloaded" in caught.value.message
    assert len(gemini.requests) == 5 and slept == [1.0, 2.0, 4.0, 8.0]


def test_connection_failures_are_retried_then_reported(provider, slept):
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = Config(gemini_base_url=f"http://127.0.0.1:{port}")
    with pytest.raises(HeraldError) as caught:
        provider.generate("x", settings=ProviderSettings(api_key=API_KEY, model=None, config=config))
    assert caught.value.code == "ai_unavailable" and "did not answer" in caught.value.message
    assert slept == [1.0, 2.0, 4.0, 8.0]


def test_wrong_key_is_not_retried_and_says_how_to_fix_it(provider, gemini, slept):
    with pytest.raises(HeraldError) as caught:
        provider.generate("x", settings=settings(gemini, key="AIza-wrong"))
    error = caught.value
    assert (error.code, error.field) == ("invalid_api_key", "gemini_api_key")
    assert "API key not valid" in error.message and "PUT /api/settings" in error.message
    assert slept == [] and len(gemini.requests) == 1


def test_permission_denied_is_an_api_key_error(provider, gemini):
    gemini.fail(403)
    with pytest.raises(HeraldError) as caught:
        provider.generate("x", settings=settings(gemini))
    assert caught.value.code == "invalid_api_key" and len(gemini.requests) == 1


def test_unknown_model_names_the_setting_to_change(provider, gemini):
    with pytest.raises(HeraldError) as caught:
        provider.generate("x", settings=settings(gemini, model="gemini-0-unknown"))
    assert (caught.value.code, caught.value.field) == ("ai_provider_error", "gemini_model")
    assert "gemini-0-unknown" in caught.value.message and len(gemini.requests) == 1


def test_other_400_is_not_retried(provider, gemini, slept):
    gemini.fail(400, message="Invalid value at 'generation_config'")
    with pytest.raises(HeraldError, match="Invalid value at 'generation_config'") as caught:
        provider.generate("x", settings=settings(gemini))
    assert caught.value.code == "ai_provider_error" and slept == []


@pytest.mark.parametrize("script", ["block_prompt", "SAFETY", "RECITATION", "PROHIBITED_CONTENT"])
def test_blocked_answers_are_ai_blocked(provider, gemini, script):
    if script == "block_prompt":
        gemini.block_prompt("SAFETY")
    else:
        gemini.finish(script, text="partial")
    with pytest.raises(HeraldError) as caught:
        provider.generate("x", settings=settings(gemini))
    assert caught.value.code == "ai_blocked" and caught.value.status == 422
    assert caught.value.usage[0] > 0  # the prompt's tokens were still spent


def test_truncated_answer_is_ai_truncated(provider, gemini):
    gemini.finish("MAX_TOKENS", text='{"caption": "a long caption", "hashtags": []}')
    with pytest.raises(HeraldError) as caught:
        provider.generate("x", schema=SCHEMA, settings=settings(gemini))
    assert caught.value.code == "ai_truncated" and "MAX_TOKENS" in caught.value.message


@pytest.mark.parametrize("answer", ["not json at all", '{"caption": "no hashtags"}', '{"caption": 3, "hashtags": []}'])
def test_json_that_does_not_parse_or_match_is_refused(provider, gemini, answer):
    gemini.reply_text(answer)
    with pytest.raises(HeraldError) as caught:
        provider.generate("x", schema=SCHEMA, settings=settings(gemini))
    assert caught.value.code == "ai_invalid_output"


def test_fenced_json_is_read(provider, gemini):
    gemini.reply_text('```json\n{"caption": "Hi", "hashtags": []}\n```')
    assert provider.generate("x", schema=SCHEMA, settings=settings(gemini)).data == {"caption": "Hi", "hashtags": []}


def test_through_herald_a_wrong_key_is_recorded_as_failed(ai_app, api, tenant, gemini):
    from herald import ai

    gemini.keys.add("AIzaREVOKEDkey00000")
    set_key(api, tenant, key="AIzaREVOKEDkey00000")
    gemini.keys.discard("AIzaREVOKEDkey00000")  # revoked in Google AI Studio after it was saved
    with ai_app.app_context(), db.connection_context(), pytest.raises(HeraldError) as caught:
        ai.generate(ai_app.extensions["herald"], tenant.workspace.id, feature="test", prompt="x")
    assert caught.value.code == "invalid_api_key"
    with db.connection_context():
        [row] = AIGeneration.select()
    assert row.status == "failed" and row.error.startswith("invalid_api_key:")
