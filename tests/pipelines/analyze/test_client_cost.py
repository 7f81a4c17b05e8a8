"""The gateway's own cost in a reply's `usage` (fields beyond tokens), read by the client."""

from __future__ import annotations

import json

import pytest

from pipelines.analyze.client import GatewayClient
from tests.fixtures.llm_server import Reply

MESSAGES = [{"role": "user", "content": "BTC@2024-03-01T08:00:00Z"}]


def body(usage: dict) -> str:
    choice = {"index": 0, "message": {"role": "assistant", "content": "{}"}, "finish_reason": "stop"}
    return json.dumps({"choices": [choice], "usage": {"prompt_tokens": 10, "completion_tokens": 2, **usage}})


@pytest.mark.parametrize(
    ("usage", "cost"),
    [
        ({"cost": 0.0012}, 0.0012),  # OpenRouter's field
        ({"total_cost": 0.5}, 0.5),
        ({"cost_usd": 3}, 3.0),
        ({}, None),
        ({"cost": "0.1"}, None),  # not a number: nothing reported, never a guess
        ({"cost": True}, None),
    ],
)
def test_the_reported_cost_is_kept_when_it_is_a_number(llm_server, usage, cost):
    llm_server.script(Reply(body=body(usage)))
    client = GatewayClient(llm_server.base_url, llm_server.api_key, 2.0, 1)
    assert client.chat("deepseek-v3.2", MESSAGES, 0.1, True).gateway_cost == cost
