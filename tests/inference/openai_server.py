"""A real OpenAI-compatible chat-completions server on loopback, with faults chosen by the prompt.

The reply to a prompt is its last user message reversed. Tags in that message inject faults:
`[429]`, `[500]`, `[400]`, `[slow]`, `[malformed]`, `[nologprobs]` fire on every attempt, and
`[500x2]` fires on the first two attempts only (counted across every server of a fleet, so a
retry that moves to the other server still sees the count). Every request is recorded.

`jitter_sigma` makes the latency lognormal around a median of `delay_s`, as real engines' long
tails are (sigma 0.99 puts p99 at ~10x the median). Each prompt's latency is drawn from a seed of
its own, so two clients sending the same prompts meet the same latencies.

`answer` replaces the default reply (the reversed prompt and a canned first-token distribution) with
a policy of the caller's: given the prompt and the request body it returns the reply text and the
first reply token's top log-probs, best first (tests/inference/simulated_teacher.py is one). Faults
still fire first.
"""

from __future__ import annotations

import json
import math
import random
import re
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

TAG = re.compile(r"\[(\w+?)(?:x(\d+))?\]")
# Canned first-token distribution for logprobs requests: case and space variants, a prefix, a blank.
TOP_LOGPROBS = [(" yes", -0.2), ("Yes", -0.9), ("no", -1.5), ("pos", -2.0), (" ", -3.0)]
# (prompt, request body) -> (reply text, first reply token's top log-probs as (token, logprob), best first)
Answer = Callable[[str, dict[str, Any]], tuple[str, list[tuple[str, float]]]]


@dataclass
class Record:
    """One request as the server saw it."""

    server: int
    at: float  # time.monotonic() on arrival
    headers: dict[str, str]
    body: dict[str, Any]
    prompt: str
    status: int = 0
    done: float = 0.0  # time.monotonic() when the reply was ready


class Fleet:
    """`n` loopback servers sharing one request log, fault counters and in-flight gauge."""

    def __init__(self, n: int = 1, delay_s: float = 0.0, retry_after: str = "0.1", slow_s: float = 0.6,
                 jitter_sigma: float = 0.0, answer: Answer | None = None, keep_records: bool = True) -> None:
        self.keep_records = keep_records  # off for millions of requests (bench_scale): the log would outgrow the data
        self.delay_s, self.retry_after, self.slow_s, self.jitter_sigma = delay_s, retry_after, slow_s, jitter_sigma
        self.answer = answer
        self.records: list[Record] = []
        self.completed: Counter[str] = Counter()  # prompt -> 200 replies with a completion
        self.max_in_flight = 0
        self._in_flight = 0
        self._fired: Counter[tuple[str, str]] = Counter()
        self._lock = threading.Lock()
        self._servers = [_start(self, i) for i in range(n)]
        self.urls = [f"http://127.0.0.1:{s.server_address[1]}/v1" for s, _ in self._servers]

    def latency_s(self, prompt: str) -> float:
        """This prompt's base latency: `delay_s`, or a lognormal draw around it seeded by the prompt."""
        if not self.jitter_sigma:
            return self.delay_s
        return self.delay_s * math.exp(random.Random(prompt).gauss(0.0, self.jitter_sigma))

    def attempts(self, prompt: str) -> list[Record]:
        with self._lock:
            return [r for r in self.records if r.prompt == prompt]

    def close(self) -> None:
        for server, thread in self._servers:
            server.shutdown()
            server.server_close()
            thread.join(timeout=5)

    # -- called by the handler threads -----------------------------------------------------------

    def _fault(self, prompt: str) -> str | None:
        """The first tag of the prompt that still fires on this attempt."""
        with self._lock:
            for name, times in TAG.findall(prompt):
                self._fired[(prompt, name)] += 1
                if not times or self._fired[(prompt, name)] <= int(times):
                    return name
        return None

    def _handle(self, server: int, handler: BaseHTTPRequestHandler) -> tuple[int, dict[str, str], bytes]:
        raw = handler.rfile.read(int(handler.headers.get("Content-Length", 0)))
        body = json.loads(raw)
        users = [m["content"] for m in body.get("messages", []) if m.get("role") == "user"]
        prompt = users[-1] if users else ""
        record = Record(server, time.monotonic(), dict(handler.headers.items()), body, prompt)
        with self._lock:
            if self.keep_records:
                self.records.append(record)
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)
        try:
            time.sleep(self.latency_s(prompt))
            status, headers, payload = self._reply(prompt, body, handler.headers.get("Authorization", ""))
        finally:
            with self._lock:
                self._in_flight -= 1
        record.status, record.done = status, time.monotonic()
        return status, headers, payload

    def _reply(self, prompt: str, body: dict[str, Any], auth: str) -> tuple[int, dict[str, str], bytes]:
        fault = self._fault(prompt)
        if fault == "429":
            return 429, {"Retry-After": self.retry_after}, b'{"error": "rate limited"}'
        if fault == "500":
            return 500, {}, b'{"error": "internal"}'
        if fault == "400":  # echoes the auth header, as careless proxies do: the client must redact it
            return 400, {}, json.dumps({"error": f"bad request (auth was {auth})"}).encode()
        if fault == "slow":
            time.sleep(self.slow_s)
        if fault == "malformed":
            return 200, {}, b'{"choices": [{"message": {"content": "trunc'
        text, first = self.answer(prompt, body) if self.answer else (prompt[::-1], TOP_LOGPROBS)
        choice: dict[str, Any] = {"index": 0, "message": {"role": "assistant", "content": text},
                                  "finish_reason": "stop", "logprobs": None}
        if body.get("logprobs") and fault != "nologprobs" and body.get("max_tokens") == 1:
            top = [{"token": t, "logprob": lp} for t, lp in first[: body.get("top_logprobs", 0)]]
            choice["logprobs"] = {"content": [{"token": top[0]["token"], "logprob": top[0]["logprob"],
                                               "top_logprobs": top}]}
        elif body.get("logprobs") and fault != "nologprobs":
            # generation: one token per character, the sampled one first among k candidates
            k = body.get("top_logprobs", 0)
            choice["logprobs"] = {"content": [
                {"token": c, "logprob": -0.5, "top_logprobs": [{"token": c, "logprob": -0.5}]
                 + [{"token": f"alt{j}", "logprob": -1.0 - j} for j in range(k - 1)]} for c in text]}
        words = sum(len(str(m.get("content", "")).split()) for m in body.get("messages", []))
        usage = {"prompt_tokens": words, "completion_tokens": len(text.split())}
        with self._lock:
            self.completed[prompt if self.keep_records else ""] += 1
        return 200, {}, json.dumps({"id": "x", "object": "chat.completion", "model": body.get("model"),
                                    "choices": [choice], "usage": usage}).encode()


def _start(fleet: Fleet, index: int) -> tuple[ThreadingHTTPServer, threading.Thread]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as real servers do

        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            status, headers, payload = fleet._handle(index, self)
            try:
                self.send_response(status)
                for name, value in {"Content-Type": "application/json", **headers}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except OSError:  # the client gave up (timeout) and closed the socket
                self.close_connection = True

        def log_message(self, format: str, *args: Any) -> None:  # quiet test output
            pass

    class Server(ThreadingHTTPServer):
        request_queue_size = 256  # the default backlog of 5 resets connections when 64 clients connect at once

    server = Server(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server.block_on_close = False
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    return server, thread
