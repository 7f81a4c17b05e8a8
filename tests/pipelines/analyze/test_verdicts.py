"""Reading gateway replies: robust JSON extraction, strict per-verdict validation."""

from __future__ import annotations

import json

import pytest

from pipelines.core.verdicts import MAX_ALERT, extract_json, parse_reply
from tests.fixtures.llm_server import default_verdict, verdicts_json

IDS = ["BTC@2024-03-01T08:00:00Z", "ETH@2024-03-01T08:00:00Z"]


@pytest.mark.parametrize(
    "text",
    [
        verdicts_json(IDS),
        json.dumps([default_verdict(i) for i in IDS]),
        f"```json\n{verdicts_json(IDS)}\n```",
        f"Here is my assessment.\n{verdicts_json(IDS)}\nLet me know if you need more.",
        f"```\n{verdicts_json(IDS)}\n```",
    ],
    ids=["plain", "list", "fenced", "prose", "bare-fence"],
)
def test_replies_are_parsed_in_every_usual_shape(text):
    reply = parse_reply(text, IDS)
    assert reply.clean and set(reply.valid) == set(IDS) and reply.problems() is None


def test_not_json_makes_every_window_bad():
    reply = parse_reply("I cannot help with that.", IDS)
    assert reply.valid == {} and set(reply.bad) == set(IDS)


def test_missing_and_invented_ids():
    text = json.dumps({"verdicts": [default_verdict(IDS[0]), default_verdict("SOL@2024-03-01T08:00:00Z")]})
    reply = parse_reply(text, IDS)
    assert set(reply.valid) == {IDS[0]} and reply.bad == {IDS[1]: "missing from reply"}
    assert reply.invented == ["SOL@2024-03-01T08:00:00Z"] and "invented ids" in reply.problems()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("risk", "EXTREME"),
        ("action", "BUY"),
        ("confidence", 1.5),
        ("confidence", -0.1),
        ("confidence", True),
        ("confidence", "0.5"),
        ("rationale", ""),
        ("rationale", "x" * 601),
        ("alert", " "),
        ("alert", "x" * (MAX_ALERT + 1)),
        ("risk", None),
    ],
)
def test_each_field_is_validated(field, value):
    reply = parse_reply(verdicts_json(IDS[:1], **{field: value}), IDS[:1])
    assert reply.valid == {} and IDS[0] in reply.bad


def test_enum_case_and_spaces_are_forgiven_and_confidence_ints_accepted():
    reply = parse_reply(verdicts_json(IDS[:1], risk=" high", action="open_arb", confidence=1), IDS[:1])
    verdict = reply.valid[IDS[0]]
    assert (verdict.risk, verdict.action, verdict.confidence) == ("HIGH", "OPEN_ARB", 1.0)


def test_duplicate_verdicts_for_one_id_are_bad():
    text = json.dumps({"verdicts": [default_verdict(IDS[0]), default_verdict(IDS[0])]})
    assert parse_reply(text, IDS[:1]).bad == {IDS[0]: "more than one verdict"}


def test_extract_json_skips_braces_in_prose():
    assert extract_json('Note {not json} then {"verdicts": []} end') == {"verdicts": []}
