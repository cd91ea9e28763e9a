"""The Gemini provider plugin against the fake Gemini API: request mapping, retries, errors.

The provider makes one attempt per call; a 429 or 5xx (nothing generated, nothing paid) is tried again
by the work kernel as a retry of the background job, after the delay Gemini asked for or the kind's
backoff, on the test's clock (``drive.advance``), never by sleeping in the worker."""

from __future__ import annotations

import socket

import pytest

from ai_drive import set_key
from drive import advance, work
from fakes.gemini import API_KEY
from herald.ai import background
from herald.ai.provider import AIUnavailable, ProviderSettings
from herald.config import Config
from herald.db.models import AIGeneration, BackgroundJob, db
from herald.errors import HeraldError
from herald.runtime import installed_for_jobs
from herald_gemini import DEFAULT_MODEL, GeminiProvider, api

SCHEMA = {"type": "object", "required": ["caption", "hashtags"],
          "properties": {"caption": {"type": "string"}, "hashtags": {"type": "array", "items": {"type": "string"}}}}


@pytest.fixture
def provider():
    return GeminiProvider()


def settings(fake, key=API_KEY, model=None):
    return ProviderSettings(api_key=key, model=model, config=Config().with_settings(gemini_base_url=fake.base_url))


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


HOOKS = {"hooks": [{"text": f"Hook number {n}?", "style": "question"} for n in range(20)]}


def start_hooks(api_client, tenant) -> str:
    """Start an AI job through the API (the key stored first); its id."""
    set_key(api_client, tenant)
    response = api_client.post("/api/intelligence/populate-hooks", json={"client_id": tenant.client.id},
                               headers=tenant.headers)
    assert response.status_code == 202, response.get_json()
    return response.get_json()["job"]["id"]


def shown(api_client, tenant, job_id) -> dict:
    return api_client.get(f"/api/jobs/{job_id}", headers=tenant.headers).get_json()["job"]


def waits_before_next_attempt(job_id) -> float | None:
    """Seconds from the test's clock until the job's next attempt (None: no attempt scheduled)."""
    with db.connection_context():
        due = BackgroundJob.get_by_id(job_id).due_at
    return None if due is None else (due - installed_for_jobs().clock.now()).total_seconds()


def test_429_raises_unavailable_with_the_retry_delay_gemini_asks_for(provider, gemini):
    gemini.fail(429, retry_delay="7s")
    with pytest.raises(AIUnavailable) as caught:
        provider.generate("x", settings=settings(gemini))
    assert caught.value.code == "ai_unavailable" and caught.value.retry_after == "7"
    assert [r.status for r in gemini.requests] == [429]


def test_the_retry_after_header_is_passed_on_as_sent():
    assert api.retry_after({}, {"Retry-After": "Wed, 21 Oct 2026 07:28:00 GMT"}) == "Wed, 21 Oct 2026 07:28:00 GMT"
    assert api.retry_after({"error": {"details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo",
                                                   "retryDelay": "1.5s"}]}}, {"retry-after": "9"}) == "2"


def test_429_retries_the_job_after_the_delay_gemini_asks_for_then_succeeds(api, tenant, gemini, redis_client):
    gemini.fail(429, retry_delay="7s")
    gemini.reply_json(HOOKS)
    job_id = start_hooks(api, tenant)
    assert work(redis_client) == 1
    assert shown(api, tenant, job_id)["status"] == "queued" and waits_before_next_attempt(job_id) == 7
    advance(redis_client, 6)
    assert work(redis_client) == 0  # not before the delay Gemini asked for
    advance(redis_client, 1)
    assert work(redis_client) == 1
    done = shown(api, tenant, job_id)
    assert done["status"] == "succeeded" and done["error"] is None and done["result"]["created"] == 20
    assert [r.status for r in gemini.generations] == [429, 200]
    assert [row.status for row in AIGeneration.select().order_by(AIGeneration.id)] == ["failed", "succeeded"]
    assert api.get("/api/plan", headers=tenant.headers).get_json()["usage"]["ai_generations"] == 1


@pytest.mark.parametrize("status", [500, 503, 504])
def test_server_errors_back_off_exponentially(api, tenant, gemini, redis_client, status):
    gemini.fail(status, times=3)
    gemini.reply_json(HOOKS)
    job_id = start_hooks(api, tenant)
    waits = []
    while work(redis_client):
        wait = waits_before_next_attempt(job_id)
        if wait is None:
            break
        waits.append(wait)
        advance(redis_client, wait)
    assert shown(api, tenant, job_id)["status"] == "succeeded" and len(gemini.generations) == 4
    assert len(waits) == 3 and all(1.0 <= wait <= 2 ** n for n, wait in enumerate(waits)), waits


def test_a_delay_past_what_herald_waits_fails_the_job_at_once(api, tenant, gemini, redis_client):
    gemini.fail(429, retry_delay="3600s")
    job_id = start_hooks(api, tenant)
    assert work(redis_client) == 1
    failed = shown(api, tenant, job_id)
    assert failed["status"] == "failed" and failed["error"]["code"] == "ai_unavailable"
    assert "3600 s" in failed["error"]["message"] and failed["finished_at"] is not None
    assert len(gemini.generations) == 1


def test_attempts_are_bounded(api, tenant, gemini, redis_client):
    gemini.fail(503, times=10)
    job_id = start_hooks(api, tenant)
    while work(redis_client):
        wait = waits_before_next_attempt(job_id)
        if wait is None:
            break
        advance(redis_client, wait)
    failed = shown(api, tenant, job_id)
    assert failed["status"] == "failed" and failed["error"]["code"] == "ai_unavailable"
    assert "overloaded" in failed["error"]["message"]
    assert len(gemini.generations) == background.RETRY.max_attempts == 5


def test_connection_failures_are_reported_as_unavailable(provider):
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = Config().with_settings(gemini_base_url=f"http://127.0.0.1:{port}")
    with pytest.raises(AIUnavailable) as caught:
        provider.generate("x", settings=ProviderSettings(api_key=API_KEY, model=None, config=config))
    assert caught.value.code == "ai_unavailable" and "did not answer" in caught.value.message
    assert caught.value.retry_after is None  # the job's backoff decides


def test_wrong_key_is_not_retried_and_says_how_to_fix_it(provider, gemini):
    with pytest.raises(HeraldError) as caught:
        provider.generate("x", settings=settings(gemini, key="AIza-wrong"))
    error = caught.value
    assert (error.code, error.field) == ("invalid_api_key", "gemini_api_key")
    assert "API key not valid" in error.message and "PUT /api/settings" in error.message
    assert len(gemini.requests) == 1


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


def test_other_400_is_not_retried(provider, gemini):
    gemini.fail(400, message="Invalid value at 'generation_config'")
    with pytest.raises(HeraldError, match="Invalid value at 'generation_config'") as caught:
        provider.generate("x", settings=settings(gemini))
    assert caught.value.code == "ai_provider_error" and len(gemini.requests) == 1


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
