"""An OpenAI-compatible chat completions server on loopback, for tests, benchmarks and the demo.

`POST /v1/chat/completions` with a Bearer check. Replies come from a script (a queue of `Reply`:
content, status, headers such as Retry-After, a delay to provoke timeouts, usage present or not,
a dropped connection) and, when the script is empty, from the default mode: a valid verdict for
every window id found in the last user message, deterministic per id, with usage counted by a
tokenizer-like rule (words, digit groups of three, punctuation), so token figures behave like a
real gateway's. Every request is logged in `server.requests` for assertions.

    with LLMServer(api_key="k") as server:
        server.script(Reply(status=429, headers={"Retry-After": "1"}))
        ...  # point llm.base_url at server.base_url
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import re
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

WINDOW_ID = re.compile(r"[A-Za-z0-9_-]+@\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")
_TOKEN = re.compile(r"[A-Za-z]+|\d{1,3}|[^\sA-Za-z\d]")


@dataclass
class Reply:
    """One scripted answer. `content` None = default verdicts; a callable gets the prompt's ids."""

    content: str | Callable[[list[str]], str] | None = None
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    usage: bool = True
    drop: bool = False
    body: str | None = None


def count_tokens(text: str) -> int:
    """Tokens of `text` as a BPE tokenizer roughly counts them."""
    return len(_TOKEN.findall(text))


def default_verdict(ident: str) -> dict:
    """A valid, deterministic verdict for the window `ident` (mostly calm, a few alerts)."""
    h = int(hashlib.sha256(ident.encode()).hexdigest(), 16)
    risk = ("LOW", "LOW", "MEDIUM", "MEDIUM", "HIGH")[h % 5]
    action = {"LOW": ("WATCH", "OPEN_ARB")[h // 5 % 2], "MEDIUM": "WATCH", "HIGH": "HOLD"}[risk]
    pair = ident.split("@", 1)[0]
    return {
        "id": ident,
        "risk": risk,
        "action": action,
        "confidence": round(0.55 + (h % 40) / 100, 2),
        "rationale": f"Funding differential on {pair} is elevated versus recent windows while basis on "
        f"both venues stays moderate. Fees are covered within a few periods if the spread persists.",
        "alert": f"{pair}: {risk.lower()} risk, {action}",
    }


def verdicts_json(ids: list[str], **overrides) -> str:
    """A reply with the default verdict for each id, fields replaced by `overrides`."""
    return json.dumps({"verdicts": [{**default_verdict(i), **overrides} for i in ids]})


class LLMServer:
    """The server, in a background thread; `base_url` is what `llm.base_url` should be set to."""

    def __init__(self, api_key: str = "test-key", host: str = "127.0.0.1", port: int = 0):
        self.api_key = api_key
        self.requests: list[dict] = []
        self._script: deque[Reply] = deque()
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer((host, port), _handler(self))
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    def start(self) -> LLMServer:
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="llm-server", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> LLMServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def script(self, *replies: Reply) -> None:
        """Queue replies, answered in order before the default mode resumes."""
        with self._lock:
            self._script.extend(replies)

    def reset(self) -> None:
        """Forget the request log and any replies still queued."""
        with self._lock:
            self._script.clear()
            self.requests.clear()

    def _next(self) -> Reply:
        with self._lock:
            return self._script.popleft() if self._script else Reply()

    def _log(self, entry: dict) -> None:
        with self._lock:
            self.requests.append(entry)


def _completion(payload: dict, reply: Reply, ids: list[str]) -> dict:
    content = reply.content(ids) if callable(reply.content) else reply.content
    if content is None:
        content = verdicts_json(ids)
    body = {
        "id": f"chatcmpl-{hashlib.sha1(content.encode()).hexdigest()[:12]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": payload.get("model"),
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
        ],
    }
    if reply.usage:
        prompt = sum(count_tokens(str(m.get("content", ""))) + 4 for m in payload.get("messages", []))
        completion = count_tokens(content)
        body["usage"] = {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        }
    return body


def _handler(server: LLMServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:  # quiet: tests read server.requests instead
            pass

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.path.rstrip("/") != "/v1/chat/completions":
                return self._send(404, {"error": {"message": f"no route {self.path}"}})
            try:
                payload = json.loads(raw)
            except ValueError:
                return self._send(400, {"error": {"message": "body is not JSON"}})
            authorized = self.headers.get("Authorization") == f"Bearer {server.api_key}"
            messages = payload.get("messages") or [{}]
            user = next((m for m in reversed(messages) if m.get("role") == "user"), messages[-1])
            ids = list(dict.fromkeys(WINDOW_ID.findall(str(user.get("content", "")))))
            server._log({"path": self.path, "authorized": authorized, "payload": payload, "ids": ids})
            if not authorized:
                return self._send(401, {"error": {"message": "invalid api key", "type": "auth_error"}})
            reply = server._next()
            if reply.delay:
                time.sleep(reply.delay)
            if reply.drop:
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return None
            if reply.body is not None or reply.status != 200:
                body = (
                    reply.body if reply.body is not None else json.dumps({"error": {"message": "scripted"}})
                )
                return self._send(reply.status, body, reply.headers)
            return self._send(200, _completion(payload, reply, ids), reply.headers)

        def _send(self, status: int, body, headers: dict | None = None) -> None:
            data = (body if isinstance(body, str) else json.dumps(body)).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (timeout test)

    return Handler


def main() -> None:
    """Run the server in the foreground (default mode) for a manual demo."""
    parser = argparse.ArgumentParser(description="OpenAI-compatible loopback LLM server")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--api-key", default="demo-key")
    args = parser.parse_args()
    with LLMServer(api_key=args.api_key, port=args.port) as server:
        print(f"serving {server.base_url} (key from --api-key); Ctrl-C stops")
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()


if __name__ == "__main__":
    main()
