"""GatewayClient against the loopback OpenAI-compatible server: retries, Retry-After, typed errors."""

from __future__ import annotations

import logging
import time

import pytest

from pipelines.analyze.client import GatewayClient, RequestRejected, estimate_tokens
from pipelines.core.errors import AuthError, LLMError
from tests.fixtures.llm_server import Reply

MESSAGES = [
    {"role": "system", "content": "Reply with JSON verdicts."},
    {"role": "user", "content": "id|a_rate\nBTC@2024-03-01T08:00:00Z|0.000123"},
]


def _client(server, key=None, timeout=1.0, attempts=3, **kw) -> GatewayClient:
    return GatewayClient(server.base_url, key or server.api_key, timeout, attempts, backoff_base=0.01, **kw)


def _chat(client, json_mode=True):
    return client.chat("deepseek-v3.2", MESSAGES, 0.1, json_mode)


def test_good_call_returns_content_usage_and_sends_the_request_openai_style(llm_server):
    result = _chat(_client(llm_server))
    assert "BTC@2024-03-01T08:00:00Z" in result.content
    assert result.prompt_tokens > 0 and result.completion_tokens > 0 and not result.usage_missing
    assert result.failed_attempts == () and result.latency_ms >= 0
    payload = llm_server.requests[0]["payload"]
    assert payload["model"] == "deepseek-v3.2" and payload["temperature"] == 0.1
    assert payload["messages"] == MESSAGES
    assert payload["response_format"] == {"type": "json_object"}
    assert llm_server.requests[0]["authorized"]


def test_json_mode_off_sends_no_response_format(llm_server):
    _chat(_client(llm_server), json_mode=False)
    assert "response_format" not in llm_server.requests[0]["payload"]


def test_429_honours_retry_after(llm_server):
    llm_server.script(Reply(status=429, headers={"Retry-After": "1"}))
    started = time.monotonic()
    result = _chat(_client(llm_server))
    assert time.monotonic() - started >= 0.95  # waited what the server asked, not the 0.01 s backoff
    assert [a.status for a in result.failed_attempts] == [429]
    assert len(llm_server.requests) == 2


def test_retry_after_is_capped(llm_server):
    llm_server.script(Reply(status=429, headers={"Retry-After": "3600"}))
    started = time.monotonic()
    _chat(_client(llm_server, retry_after_cap=0.1))
    assert time.monotonic() - started < 2


def test_500_then_success(llm_server):
    llm_server.script(Reply(status=500), Reply(status=503))
    result = _chat(_client(llm_server))
    assert [a.error for a in result.failed_attempts] == ["HTTP 500", "HTTP 503"]
    assert len(llm_server.requests) == 3


def test_timeout_then_success(llm_server):
    llm_server.script(Reply(delay=0.6))
    result = _chat(_client(llm_server, timeout=0.2))
    assert result.failed_attempts[0].error.startswith("timeout")
    assert result.content


def test_connection_reset_then_success(llm_server):
    llm_server.script(Reply(drop=True))
    result = _chat(_client(llm_server))
    assert result.failed_attempts[0].error.startswith("connection error")


def test_retries_exhausted_raise_llm_error_with_the_last_status(llm_server):
    llm_server.script(*[Reply(status=502)] * 3)
    with pytest.raises(LLMError) as info:
        _chat(_client(llm_server, attempts=3))
    assert info.value.status == 502 and len(info.value.attempts) == 3
    assert "HTTP 502 after 3 attempt(s)" in str(info.value)
    assert len(llm_server.requests) == 3


def test_401_stops_at_once_naming_the_gateway_never_the_key(llm_server, caplog):
    caplog.set_level(logging.DEBUG)
    secret = "sk-wrong-secret-key"
    with pytest.raises(AuthError) as info:
        _chat(_client(llm_server, key=secret))
    assert len(llm_server.requests) == 1  # never retried
    message = str(info.value)
    assert llm_server.base_url in message and "401" in message and "HOLYSHEEP_API_KEY" in message
    assert secret not in message and secret not in caplog.text
    assert info.value.attempts[0].status == 401


def test_403_is_an_auth_error_too(llm_server):
    llm_server.script(Reply(status=403))
    with pytest.raises(AuthError):
        _chat(_client(llm_server))


def test_400_is_rejected_without_retry(llm_server):
    llm_server.script(Reply(status=400, body='{"error": {"message": "response_format not supported"}}'))
    with pytest.raises(RequestRejected, match="response_format not supported"):
        _chat(_client(llm_server))
    assert len(llm_server.requests) == 1


def test_body_that_is_not_a_completion_is_retried(llm_server):
    llm_server.script(Reply(body="<html>bad gateway</html>"))
    result = _chat(_client(llm_server))
    assert "not a chat completion" in result.failed_attempts[0].error


def test_missing_usage_is_estimated_and_says_so(llm_server):
    llm_server.script(Reply(usage=False))
    result = _chat(_client(llm_server))
    assert result.usage_missing
    assert result.prompt_tokens == sum(estimate_tokens(m["content"]) for m in MESSAGES)
    assert result.completion_tokens == estimate_tokens(result.content)


def test_repr_hides_the_key(llm_server):
    assert llm_server.api_key not in repr(_client(llm_server))
