"""A small OpenAI-compatible HTTP server on 127.0.0.1 that fails on purpose, for the openai backend's tests.

It speaks enough of Chat Completions (`/v1/chat/completions`) and Responses (`/v1/responses`), streaming (SSE) and
not, for the official SDK to parse its answers. What each request gets is scripted per prompt (the last message's
content): `plan[prompt]` is a list of actions used by successive requests with that prompt; when it runs out they
succeed. Actions:
    ("ok", {...})          an answer; the dict may set content, reasoning, finish_reason ("stop" | "length")
    ("status", code)       that HTTP status with an OpenAI-style JSON error (whose message echoes the API key, as
                           some providers do, so tests can check the backend keeps it out of what it writes)
    ("status", code, hdrs) the same with extra response headers (e.g. Retry-After)
    ("status_fragment", code, start, end)  that status, its message echoing only key[start:end] (a partial echo)
    ("hang", seconds)      read the request, then send nothing for that long (or until the server stops)
    ("drop",)              start a streamed answer, then close the connection before it finishes
    ("slow", seconds)      wait, then answer normally (to observe how many requests are in flight at once)
Every request is recorded (path, headers, JSON body) in `requests`.
"""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PROMPT_TOKENS, COMPLETION_TOKENS, REASONING_TOKENS = 11, 7, 3


def default_answer(prompt: str) -> dict:
    return {"content": f"Answer to {prompt}", "reasoning": f"Thinking about {prompt}", "finish_reason": "stop"}


def _prompt(body: dict) -> str:
    messages = body.get("messages") or body.get("input") or [{}]
    return str(messages[-1].get("content", ""))


class FaultServer:
    def __init__(self):
        self.plan: dict = {}
        self.requests: list = []
        self.max_in_flight = 0
        self._in_flight = 0
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def start(self) -> "FaultServer":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # wakes hanging handlers
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=10)

    def requests_for(self, prompt: str) -> list:
        return [r for r in self.requests if _prompt(r["body"]) == prompt]

    def _next_action(self, prompt: str):
        with self._lock:
            actions = self.plan.get(prompt) or []
            return actions.pop(0) if actions else ("ok", {})

    def _handler_class(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"  # one request per connection; a stream ends when the connection closes

            def log_message(self, *args):  # keep test output quiet
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                with server._lock:
                    server.requests.append({"path": self.path, "headers": {k.lower(): v for k, v in
                                                                           self.headers.items()}, "body": body})
                    server._in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server._in_flight)
                try:
                    self._serve(body)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout): expected
                    pass
                finally:
                    with server._lock:
                        server._in_flight -= 1

            def _serve(self, body):
                prompt = _prompt(body)
                action = server._next_action(prompt)
                if action[0] == "hang":
                    server._stopping.wait(action[1])
                    return
                if action[0] in ("status", "status_fragment"):
                    key = self.headers.get("Authorization", "").removeprefix("Bearer ")
                    if action[0] == "status_fragment":
                        key, action = key[action[2]:action[3]], action[:2]
                    error = {"error": {"message": f"scripted failure for key {key}", "type": "test", "code": None}}
                    self._json(action[1], error, action[2] if len(action) > 2 else {})
                    return
                if action[0] == "slow":
                    server._stopping.wait(action[1])
                answer = dict(default_answer(prompt), **(action[1] if action[0] == "ok" else {}))
                responses = self.path.rstrip("/").endswith("/responses")
                if not body.get("stream"):
                    self._json(200, _response(answer) if responses else _chat_completion(answer))
                    return
                events = _response_events(answer) if responses else _chat_chunks(answer, body)
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                for i, (event, data) in enumerate(events):
                    if action[0] == "drop" and i == 2:
                        return  # connection closes with the answer half sent
                    prefix = f"event: {event}\n" if event else ""
                    self.wfile.write(f"{prefix}data: {json.dumps(data)}\n\n".encode())
                    self.wfile.flush()
                if not responses:
                    self.wfile.write(b"data: [DONE]\n\n")

            def _json(self, code, payload, headers=None):
                data = json.dumps(payload).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

        return Handler


def _chat_usage():
    return {"prompt_tokens": PROMPT_TOKENS, "completion_tokens": COMPLETION_TOKENS,
            "total_tokens": PROMPT_TOKENS + COMPLETION_TOKENS,
            "completion_tokens_details": {"reasoning_tokens": REASONING_TOKENS}}


def _chat_completion(answer: dict) -> dict:
    message = {"role": "assistant", "content": answer["content"]}
    if answer["reasoning"]:
        message["reasoning_content"] = answer["reasoning"]
    return {"id": "chatcmpl-test", "object": "chat.completion", "created": 0, "model": "test",
            "choices": [{"index": 0, "message": message, "finish_reason": answer["finish_reason"]}],
            "usage": _chat_usage()}


def _chat_chunks(answer: dict, body: dict) -> list:
    def chunk(delta, finish=None, usage=None, choices=True):
        return (None, {"id": "chatcmpl-test", "object": "chat.completion.chunk", "created": 0, "model": "test",
                       "choices": [{"index": 0, "delta": delta, "finish_reason": finish}] if choices else [],
                       "usage": usage})

    out = [chunk({"role": "assistant", "content": ""})]
    if answer["reasoning"]:
        out.append(chunk({"reasoning_content": answer["reasoning"]}))
    out += [chunk({"content": piece}) for piece in _pieces(answer["content"])]
    out.append(chunk({}, finish=answer["finish_reason"]))
    if (body.get("stream_options") or {}).get("include_usage"):
        out.append(chunk({}, usage=_chat_usage(), choices=False))
    return out


def _pieces(text: str) -> list:
    """Split text in a few pieces that join back exactly (spaces kept)."""
    words = text.split(" ")
    return [w + (" " if i < len(words) - 1 else "") for i, w in enumerate(words)]


def _response(answer: dict) -> dict:
    length = answer["finish_reason"] == "length"
    output = []
    if answer["reasoning"]:
        output.append({"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text",
                                                                      "text": answer["reasoning"]}]})
    output.append({"type": "message", "id": "msg_1", "role": "assistant", "status": "completed",
                   "content": [{"type": "output_text", "text": answer["content"], "annotations": []}]})
    return {"id": "resp_1", "object": "response", "created_at": 0, "model": "test", "output": output,
            "status": "incomplete" if length else "completed",
            "incomplete_details": {"reason": "max_output_tokens"} if length else None,
            "usage": {"input_tokens": PROMPT_TOKENS, "output_tokens": COMPLETION_TOKENS,
                      "total_tokens": PROMPT_TOKENS + COMPLETION_TOKENS,
                      "input_tokens_details": {"cached_tokens": 0},
                      "output_tokens_details": {"reasoning_tokens": REASONING_TOKENS}}}


def _response_events(answer: dict) -> list:
    final = _response(answer)
    started = dict(final, status="in_progress", output=[], usage=None, incomplete_details=None)
    out = [("response.created", {"type": "response.created", "sequence_number": 0, "response": started})]
    if answer["reasoning"]:
        out.append(("response.reasoning_summary_text.delta",
                    {"type": "response.reasoning_summary_text.delta", "item_id": "rs_1", "output_index": 0,
                     "summary_index": 0, "delta": answer["reasoning"], "sequence_number": 1}))
    for piece in _pieces(answer["content"]):
        out.append(("response.output_text.delta",
                    {"type": "response.output_text.delta", "item_id": "msg_1", "output_index": 1,
                     "content_index": 0, "delta": piece, "logprobs": [], "sequence_number": len(out)}))
    done = "response.incomplete" if final["status"] == "incomplete" else "response.completed"
    out.append((done, {"type": done, "sequence_number": len(out), "response": final}))
    return out
