"""A stand-in teacher for the synth tests: an OpenAI-shaped chat server (stdlib ``http.server``
in a thread) that answers deterministically and injects faults on a schedule.

``faults`` maps a user message to what its successive attempts get before a normal answer:
``"429"`` (with ``Retry-After``), ``"500"``, ``"slow"`` (answers after ``slow_s``, past the
client's timeout), ``"malformed"`` (200 with a body that is not JSON), ``"nochoices"`` (200,
JSON without choices) and ``"drop"`` (the connection closes without an answer).
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

USER_SIMULATOR_MARK = "You are playing the user"


def default_reply(body: dict) -> tuple[str, str]:
    """``(text, finish_reason)``: a function of the request only, so reruns agree."""
    msgs = body["messages"]
    if msgs[0]["role"] == "system" and msgs[0]["content"].startswith(USER_SIMULATOR_MARK):
        h = hashlib.sha256(msgs[-1]["content"].encode()).hexdigest()[:6]
        return f"And what about {h}?", "stop"
    last = msgs[-1]["content"]
    if last.startswith("Write one question"):  # the default topic template
        return f'"What is {last.split(" about ", 1)[1].split(". ", 1)[0]}?"', "stop"
    return f"Reply to: {last} (seed {body.get('seed')}, turn {sum(m['role'] == 'user' for m in msgs)})", "stop"


class FakeTeacher:
    def __init__(self, *, faults: dict | None = None, reply=default_reply, key: str | None = None,
                 models=("teacher",), delay_s: float = 0.0, slow_s: float = 1.5, retry_after: str = "1"):
        self.faults, self.reply, self.key, self.models = dict(faults or {}), reply, key, list(models)
        self.delay_s, self.slow_s, self.retry_after = delay_s, slow_s, retry_after
        self.attempts: dict[str, int] = {}
        self.log: list[tuple[float, str, str]] = []  # (time, user message, what it got)
        self.lock = threading.Lock()
        teacher = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def _send(self, status, obj=None, raw=None, headers=()):
                data = raw if raw is not None else json.dumps(obj).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in headers:
                    self.send_header(k, v)
                self.end_headers()
                try:
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # a client that timed out and left: the "slow" fault does this on purpose

            def _authorized(self):
                if teacher.key is None or self.headers.get("Authorization") == f"Bearer {teacher.key}":
                    return True
                self._send(401, {"error": {"message": "Incorrect API key provided", "type": "invalid_request_error"}})
                return False

            def do_GET(self):
                if self.path.rstrip("/") != "/v1/models":
                    return self._send(404, {"error": {"message": f"no route {self.path}"}})
                if self._authorized():
                    self._send(200, {"object": "list", "data": [{"id": m, "object": "model", "created": 0,
                                                                 "owned_by": "test"} for m in teacher.models]})

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                if self.path != "/v1/chat/completions":
                    return self._send(404, {"error": {"message": f"no route {self.path}"}})
                if not self._authorized():
                    return
                if body.get("model") not in teacher.models:
                    return self._send(404, {"error": {"message": f"The model {body.get('model')!r} does not exist",
                                                      "code": "model_not_found"}})
                user = body["messages"][-1]["content"]
                with teacher.lock:
                    n = teacher.attempts.get(user, 0)
                    teacher.attempts[user] = n + 1
                    todo = teacher.faults.get(user, [])
                    fault = todo[n] if n < len(todo) else "ok"
                    teacher.log.append((time.monotonic(), user, fault))
                if teacher.delay_s:
                    time.sleep(teacher.delay_s)
                if fault == "429":
                    return self._send(429, {"error": {"message": "Rate limit reached"}},
                                      headers=[("Retry-After", teacher.retry_after)])
                if fault == "500":
                    return self._send(500, {"error": {"message": "internal error"}})
                if fault == "malformed":
                    return self._send(200, raw=b'{"id": "x", "choices": [{"message": ')
                if fault == "nochoices":
                    return self._send(200, {"id": "x", "object": "chat.completion", "created": 0, "model": "t",
                                            "choices": []})
                if fault == "drop":
                    self.close_connection = True
                    return  # nothing sent: the client sees the connection close
                if fault == "slow":
                    time.sleep(teacher.slow_s)
                text, finish = teacher.reply(body)
                self._send(200, {"id": "chatcmpl-1", "object": "chat.completion", "created": 0,
                                 "model": body["model"],
                                 "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                                              "finish_reason": finish}],
                                 "usage": {"prompt_tokens": len(user.split()), "completion_tokens": len(text.split()),
                                           "total_tokens": len(user.split()) + len(text.split())}})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
