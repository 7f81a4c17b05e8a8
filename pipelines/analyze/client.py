"""Client for the OpenAI-compatible LLM gateway (HolySheep): `POST {base_url}/chat/completions`.

Retriable failures (429, 5xx, timeouts, connection resets, an unreadable body) are retried with
exponential backoff; a `Retry-After` header is honoured up to `retry_after_cap` seconds. 401/403
raise `AuthError` at once, other 4xx raise `RequestRejected`. Every HTTP attempt that did not
succeed is kept as an `Attempt` (on the result, or on the raised error as `.attempts`) so the
caller can put it in the ledger. The API key is only ever placed in the Authorization header.
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass, field, replace

import requests
from tenacity import RetryError, Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential
from urllib3.exceptions import NameResolutionError, NewConnectionError

from pipelines.core.errors import AuthError, FatalError, LLMError

UNREACHABLE_ATTEMPTS = 2
_PIECES = re.compile(r"[A-Za-z]{1,10}|\d{1,3}|[^\sA-Za-z\d]")


class RequestRejected(FatalError):
    """The gateway refused the request itself (4xx other than 401/403/429): retrying will not help."""


@dataclass(frozen=True)
class Attempt:
    """One HTTP attempt that failed: what happened and how long it took."""

    error: str
    latency_ms: float
    status: int | None = None
    unreachable: bool = False  # no connection could be made (refused, unknown host)


@dataclass(frozen=True)
class ChatResult:
    """A successful completion. Token counts are estimated (`estimate_tokens`) when `usage_missing`."""

    content: str
    prompt_tokens: int
    completion_tokens: int
    latency_ms: float
    usage_missing: bool
    failed_attempts: tuple[Attempt, ...] = field(default=())
    gateway_cost: float | None = None  # USD the gateway reported in `usage`, if it did


class _Retry(Exception):
    """Internal: a retriable attempt; carries the Retry-After delay the server asked for, if any."""

    def __init__(self, attempt: Attempt, retry_after: float | None = None):
        super().__init__(attempt.error)
        self.attempt = attempt
        self.retry_after = retry_after


def estimate_tokens(text: str) -> int:
    """Token count of `text` as a BPE tokenizer roughly sees it (words, digit groups of three,
    punctuation), for budgets, dry runs and missing usage. Four characters a token would undercount
    our number-heavy prompts by about half."""
    return max(len(_PIECES.findall(text)), math.ceil(len(text) / 4))


class GatewayClient:
    """One gateway endpoint and key; `chat` sends one request with retries and returns its result."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        timeout: float,
        max_attempts: int,
        session: requests.Session | None = None,
        backoff_base: float = 1.0,
        backoff_max: float = 30.0,
        retry_after_cap: float = 60.0,
    ):
        self.url = base_url.rstrip("/") + "/chat/completions"
        self._api_key = api_key
        self.timeout = timeout
        self.max_attempts = max_attempts
        self.session = session or requests.Session()
        self._backoff = wait_exponential(multiplier=backoff_base, max=backoff_max)
        self.retry_after_cap = retry_after_cap

    def __repr__(self) -> str:  # never show the key
        return f"GatewayClient({self.url!r})"

    def chat(self, model: str, messages: list[dict], temperature: float, json_mode: bool) -> ChatResult:
        """Send one chat completion; raise AuthError, RequestRejected, or LLMError after retries."""
        payload = {"model": model, "messages": messages, "temperature": temperature}
        if json_mode:
            payload["response_format"] = {"type": "json_object"}
        failed: list[Attempt] = []

        def attempt_once() -> ChatResult:
            try:
                return self._post(payload, messages)
            except _Retry as err:
                failed.append(err.attempt)
                raise
            except (AuthError, RequestRejected) as err:
                err.attempts = tuple(failed) + (err.attempt,)
                raise

        retrying = Retrying(
            stop=stop_after_attempt(self.max_attempts) | self._stop_unreachable,
            wait=self._wait,
            retry=retry_if_exception_type(_Retry),
            reraise=False,
        )
        try:
            result = retrying(attempt_once)
        except RetryError:
            last = failed[-1]
            error = LLMError(f"{self.url}: {last.error} after {len(failed)} attempt(s)")
            error.attempts = tuple(failed)
            error.status = last.status
            error.unreachable = last.unreachable
            raise error from None
        return replace(result, failed_attempts=tuple(failed))

    def _stop_unreachable(self, retry_state) -> bool:
        # Nothing listens there: retry once for a gateway restarting, then let the next run retry.
        exc = retry_state.outcome.exception()
        unreachable = isinstance(exc, _Retry) and exc.attempt.unreachable
        return unreachable and retry_state.attempt_number >= UNREACHABLE_ATTEMPTS

    def _wait(self, retry_state) -> float:
        exc = retry_state.outcome.exception()
        if isinstance(exc, _Retry) and exc.retry_after is not None:
            return min(exc.retry_after, self.retry_after_cap)
        return self._backoff(retry_state)

    def _post(self, payload: dict, messages: list[dict]) -> ChatResult:
        headers = {"Authorization": f"Bearer {self._api_key}", "Content-Type": "application/json"}
        started = time.monotonic()
        try:
            resp = self.session.post(self.url, json=payload, headers=headers, timeout=self.timeout)
        except requests.Timeout:
            raise _Retry(Attempt(f"timeout after {self.timeout:g} s", _ms(started))) from None
        except requests.ConnectionError as err:
            unreachable = _unreachable(err)
            error = unreachable or f"connection error: {type(err).__name__}"
            raise _Retry(Attempt(error, _ms(started), unreachable=bool(unreachable))) from None
        latency = _ms(started)
        status = resp.status_code
        if status in (401, 403):
            err = AuthError(
                f"LLM gateway {self.url} refused the API key (HTTP {status}); check HOLYSHEEP_API_KEY"
            )
            err.attempt = Attempt(f"HTTP {status}", latency, status)
            raise err
        if status == 429 or status >= 500:
            raise _Retry(Attempt(f"HTTP {status}", latency, status), _retry_after(resp))
        if status >= 400:
            err = RequestRejected(
                f"LLM gateway {self.url} rejected the request: HTTP {status} {_brief(resp)}"
            )
            err.attempt = Attempt(f"HTTP {status} {_brief(resp)}", latency, status)
            raise err
        return _parse_body(resp, messages, latency)


def _parse_body(resp: requests.Response, messages: list[dict], latency: float) -> ChatResult:
    try:
        body = resp.json()
        content = body["choices"][0]["message"]["content"] or ""
    except (ValueError, KeyError, IndexError, TypeError):
        raise _Retry(Attempt(f"HTTP {resp.status_code} body is not a chat completion", latency)) from None
    usage = body.get("usage") or {}
    prompt, completion = usage.get("prompt_tokens"), usage.get("completion_tokens")
    missing = not isinstance(prompt, int) or not isinstance(completion, int)
    if missing:
        prompt = sum(estimate_tokens(str(m.get("content", ""))) for m in messages)
        completion = estimate_tokens(content)
    return ChatResult(content, prompt, completion, latency, missing, gateway_cost=reported_cost(usage))


# Where OpenAI-compatible gateways put their own price of a call (OpenRouter: `usage.cost`).
COST_FIELDS = ("cost", "total_cost", "cost_usd", "total_cost_usd")


def reported_cost(usage) -> float | None:
    """The USD cost a reply's `usage` reports, None when it reports none."""
    if not isinstance(usage, dict):
        return None
    for name in COST_FIELDS:
        value = usage.get(name)
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
            return float(value)
    return None


def _unreachable(err: requests.ConnectionError) -> str | None:
    """ "connection refused" / "unknown host" / "cannot connect" when no connection was made at all;
    None for a connection lost during the request (a reset), which is worth the full retries."""
    reason = getattr(err.args[0], "reason", None) if err.args else None
    if isinstance(reason, NameResolutionError):
        return "unknown host"
    if not isinstance(reason, NewConnectionError):
        return None
    text = str(reason).rpartition(": ")[2]  # "[Errno 113] No route to host"
    return "connection refused" if "refused" in text.lower() else f"cannot connect ({text})"


def _retry_after(resp: requests.Response) -> float | None:
    """Seconds from a numeric Retry-After header (HTTP-date forms fall back to backoff)."""
    value = resp.headers.get("Retry-After", "").strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def _brief(resp: requests.Response) -> str:
    return " ".join(resp.text.split())[:200]


def _ms(started: float) -> float:
    return round((time.monotonic() - started) * 1000, 1)
