"""The models the gateway offers (`GET {base_url}/models`, OpenAI-compatible) against the models
configured: which have a price, and which configured model the gateway does not list.

`/models` is optional for a gateway: when it is not offered (404, or any failure), the start-up
check says it could not check and never stops a run; only `arbdb llm models` reports it as an error.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import requests

from pipelines.config.settings import LLM
from pipelines.core.errors import AuthError, LLMError

log = logging.getLogger(__name__)

CHECK_TIMEOUT = 10.0  # seconds: the start-up check must not hold a run up for long


@dataclass(frozen=True)
class ModelRow:
    """One model offered by the gateway or configured, and what arbdb knows of it."""

    model: str
    offered: bool
    priced: bool
    used: bool  # a tier's model or fallback


def gateway_models(
    llm: LLM, timeout: float | None = None, session: requests.Session | None = None
) -> list[str]:
    """The model ids the gateway lists; AuthError on a refused key, LLMError on anything else."""
    url = llm.base_url.rstrip("/") + "/models"
    headers = {"Authorization": f"Bearer {llm.api_key}"}
    try:
        resp = (session or requests).get(url, headers=headers, timeout=timeout or llm.timeout_seconds)
    except requests.RequestException as err:
        raise LLMError(f"LLM gateway {url}: {type(err).__name__}; check llm.base_url") from None
    if resp.status_code in (401, 403):
        raise AuthError(
            f"LLM gateway {url} refused the API key (HTTP {resp.status_code}); check HOLYSHEEP_API_KEY"
        )
    if resp.status_code == 404:
        raise LLMError(f"LLM gateway {url} does not offer a model list (HTTP 404)")
    try:
        resp.raise_for_status()
        data = resp.json()["data"]
        return [str(item["id"]) for item in data]
    except (requests.HTTPError, ValueError, KeyError, TypeError):
        raise LLMError(
            f"LLM gateway {url}: HTTP {resp.status_code}, not an OpenAI-compatible model list"
        ) from None


def model_rows(llm: LLM, offered: list[str]) -> list[ModelRow]:
    """Every offered model, then every configured one the gateway does not offer."""
    used = set(llm.tier_models())
    names = list(dict.fromkeys([*offered, *llm.tier_models(), *llm.prices]))
    return [ModelRow(m, m in offered, m in llm.prices, m in used) for m in names]


def unlisted_warning(llm: LLM) -> str | None:
    """One line naming the configured models the gateway does not list; None when all are listed,
    offline, or when the list cannot be had (logged: the run goes on and the calls will tell)."""
    if llm.offline:
        return None
    try:
        offered = set(gateway_models(llm, timeout=min(CHECK_TIMEOUT, llm.timeout_seconds)))
    except (AuthError, LLMError) as err:
        log.info("configured models not checked: %s", err)
        return None
    missing = [m for m in llm.tier_models() if m not in offered]
    if not missing:
        return None
    return (
        f"llm: model(s) {', '.join(missing)} not listed by the gateway at {llm.base_url}/models; "
        "their calls will fail (see `arbdb llm models`)"
    )
