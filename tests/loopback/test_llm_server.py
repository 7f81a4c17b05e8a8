"""The loopback OpenAI-compatible server: Bearer check, default verdicts, scripted replies, request log."""

from __future__ import annotations

import pytest
import requests

from pipelines.core.verdicts import parse_reply
from tests.fixtures.llm_server import LLMServer, Reply, count_tokens

IDS = ["BTC@2024-03-01T08:00:00Z", "ETH@2024-03-01T16:00:00Z"]


def _post(server: LLMServer, key: str | None = None, text: str = "\n".join(IDS), timeout: float = 5):
    payload = {
        "model": "deepseek-v3.2",
        "messages": [{"role": "system", "content": "triage"}, {"role": "user", "content": text}],
    }
    headers = {"Authorization": f"Bearer {key or server.api_key}"}
    return requests.post(
        f"{server.base_url}/chat/completions", json=payload, headers=headers, timeout=timeout
    )


def test_default_mode_answers_a_valid_verdict_per_window_id_with_usage(llm_server):
    resp = _post(llm_server)
    assert resp.status_code == 200
    body = resp.json()
    reply = parse_reply(body["choices"][0]["message"]["content"], IDS)
    assert reply.clean and set(reply.valid) == set(IDS)
    usage = body["usage"]
    assert usage["prompt_tokens"] == count_tokens("triage") + count_tokens("\n".join(IDS)) + 8
    assert usage["completion_tokens"] == count_tokens(body["choices"][0]["message"]["content"])
    assert llm_server.requests[0]["ids"] == IDS and llm_server.requests[0]["authorized"]


def test_default_verdicts_are_deterministic(llm_server):
    first, second = _post(llm_server).json(), _post(llm_server).json()
    assert first["choices"][0]["message"]["content"] == second["choices"][0]["message"]["content"]


def test_wrong_key_gets_401_and_is_logged(llm_server):
    resp = _post(llm_server, key="wrong")
    assert resp.status_code == 401
    assert llm_server.requests[0]["authorized"] is False


def test_scripted_replies_are_served_in_order_then_default_mode_resumes(llm_server):
    llm_server.script(
        Reply(status=429, headers={"Retry-After": "1"}),
        Reply(content="not json", usage=False),
        Reply(content=lambda ids: f"only {ids[0]}"),
    )
    first = _post(llm_server)
    assert first.status_code == 429 and first.headers["Retry-After"] == "1"
    second = _post(llm_server).json()
    assert second["choices"][0]["message"]["content"] == "not json" and "usage" not in second
    assert _post(llm_server).json()["choices"][0]["message"]["content"] == f"only {IDS[0]}"
    assert parse_reply(_post(llm_server).json()["choices"][0]["message"]["content"], IDS).clean
    assert len(llm_server.requests) == 4


def test_dropped_connection_and_delay(llm_server):
    llm_server.script(Reply(drop=True), Reply(delay=0.5))
    with pytest.raises(requests.ConnectionError):
        _post(llm_server)
    with pytest.raises(requests.Timeout):
        _post(llm_server, timeout=0.2)


def test_unknown_route_is_404(llm_server):
    resp = requests.post(f"{llm_server.base_url}/embeddings", json={}, timeout=5)
    assert resp.status_code == 404


def _chat(server: LLMServer, model: str):
    payload = {"model": model, "messages": [{"role": "user", "content": IDS[0]}]}
    headers = {"Authorization": f"Bearer {server.api_key}"}
    return requests.post(f"{server.base_url}/chat/completions", json=payload, headers=headers, timeout=5)


def test_replies_are_scripted_per_model_and_a_model_can_have_a_standing_answer(llm_server):
    llm_server.script(Reply(status=503), model="gpt-4.1")
    llm_server.answer("claude-sonnet-4.5", Reply(status=500))
    assert _chat(llm_server, "deepseek-v3.2").status_code == 200  # gpt-4.1's fault is not its own
    assert _chat(llm_server, "gpt-4.1").status_code == 503
    assert _chat(llm_server, "gpt-4.1").status_code == 200  # script used up: default mode
    assert [_chat(llm_server, "claude-sonnet-4.5").status_code for _ in range(2)] == [500, 500]
    assert llm_server.asked("gpt-4.1") == [IDS[0], IDS[0]]


def test_a_reply_can_carry_the_gateways_own_cost(llm_server):
    llm_server.script(Reply(cost=0.0042))
    assert _chat(llm_server, "deepseek-v3.2").json()["usage"]["cost"] == 0.0042
    assert "cost" not in _chat(llm_server, "deepseek-v3.2").json()["usage"]


def test_models_are_listed_and_the_route_can_be_absent(llm_server):
    headers = {"Authorization": f"Bearer {llm_server.api_key}"}
    llm_server.models = ["deepseek-v3.2", "gpt-4.1"]
    body = requests.get(f"{llm_server.base_url}/models", headers=headers, timeout=5).json()
    assert [m["id"] for m in body["data"]] == ["deepseek-v3.2", "gpt-4.1"] and body["object"] == "list"
    assert requests.get(f"{llm_server.base_url}/models", timeout=5).status_code == 401
    llm_server.models = None
    assert requests.get(f"{llm_server.base_url}/models", headers=headers, timeout=5).status_code == 404
    assert llm_server.model_requests == 2 and llm_server.requests == []
