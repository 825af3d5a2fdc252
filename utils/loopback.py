"""A small OpenAI-compatible server on 127.0.0.1, for tests, dry runs and benchmarks.

It answers ``POST /v1/chat/completions`` (and ``GET /v1/models``) by calling a Python ``responder``
with the request body; the responder returns a :class:`Reply`, which can also be an HTTP error, a
``Retry-After`` header, a delay (to simulate latency or a timeout), a dropped connection, or a
garbage body. ``POST /v1/images/generations`` and ``POST /v1/audio/speech`` go to ``media`` (by default
a small PNG whose colour comes from the prompt, and a WAV tone whose pitch comes from the text and voice).
Every request body is kept in :attr:`LoopbackServer.requests` (its path under ``"_path"``) for assertions.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable


@dataclass
class Reply:
    content: str | None = None
    status: int = 200
    headers: dict = field(default_factory=dict)
    raw_body: str | None = None  # sent as-is instead of a completion (e.g. garbage)
    delay: float = 0.0  # seconds to wait before answering
    drop: bool = False  # close the connection without answering
    prompt_tokens: int = 10
    completion_tokens: int = 5
    data: bytes | None = None  # a binary reply body (speech), sent with `content_type`
    content_type: str = "application/json"


def default_media(path: str, body: dict) -> Reply:
    """A deterministic stand-in picture or voice: distinct inputs give distinct outputs."""
    import base64
    import hashlib
    import io

    digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).digest()
    if path.endswith("/images/generations"):
        from PIL import Image

        buffer = io.BytesIO()
        Image.new("RGB", (32, 32), tuple(digest[:3])).save(buffer, format="PNG")
        return Reply(raw_body=json.dumps({"created": int(time.time()), "data": [
            {"b64_json": base64.b64encode(buffer.getvalue()).decode("ascii")}]}))
    import numpy as np
    import soundfile

    rate = 16000
    t = np.arange(int(0.2 * rate)) / rate
    samples = (0.3 * np.sin(2 * np.pi * (200 + digest[0] * 4) * t)).astype("float32")
    buffer = io.BytesIO()
    soundfile.write(buffer, samples, rate, format="WAV")
    return Reply(data=buffer.getvalue(), content_type="audio/wav")


def user_text(body: dict) -> str:
    """All text parts of all messages of a chat request, joined."""
    parts = []
    for message in body.get("messages", []):
        content = message.get("content")
        if isinstance(content, str):
            parts.append(content)
        elif isinstance(content, list):
            parts += [c.get("text", "") for c in content if isinstance(c, dict) and c.get("type") == "text"]
    return "\n".join(parts)


def media_parts(body: dict) -> list[dict]:
    """Non-text content parts (image_url, input_audio, ...) of a chat request."""
    out = []
    for message in body.get("messages", []):
        content = message.get("content")
        if isinstance(content, list):
            out += [c for c in content if isinstance(c, dict) and c.get("type") != "text"]
    return out


class LoopbackServer:
    def __init__(self, responder: Callable[[dict], Reply], latency: float = 0.0, model: str = "loopback",
                 keep_requests: bool = True, port: int = 0,
                 media: Callable[[str, dict], Reply] = default_media):
        self.responder = responder
        self.media = media  # images and speech: media(path, body) -> Reply
        self.latency = latency
        self.model = model
        self.keep_requests = keep_requests  # False: only count them (long benchmark runs)
        self.port = port  # 0: any free port
        self.requests: list[dict] = []
        self.served = 0
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1"

    @property
    def count(self) -> int:
        with self._lock:
            return self.served

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self.served = 0

    def start(self) -> "LoopbackServer":
        server_ref = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep test output clean
                pass

            def setup(self):
                super().setup()
                # Without this, Nagle's algorithm and delayed ACKs add ~40 ms to a keep-alive exchange.
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def _send(self, status: int, body: str | bytes, headers: dict | None = None,
                      content_type: str = "application/json"):
                data = body.encode() if isinstance(body, str) else body
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                for key, value in (headers or {}).items():
                    self.send_header(key, str(value))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                if self.path.rstrip("/").endswith("/stats"):  # for a benchmark driving a server in another process
                    self._send(200, json.dumps({"requests": server_ref.count}))
                    return
                self._send(200, json.dumps({"object": "list", "data": [{"id": server_ref.model, "object": "model"}]}))

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                try:
                    body = json.loads(self.rfile.read(length) or b"{}")
                except json.JSONDecodeError:
                    self._send(400, json.dumps({"error": {"message": "invalid JSON"}}))
                    return
                with server_ref._lock:
                    server_ref.served += 1
                    if server_ref.keep_requests:
                        server_ref.requests.append({**body, "_path": self.path})
                path = self.path.rstrip("/")
                media = path.endswith(("/images/generations", "/audio/speech"))
                reply = server_ref.media(path, body) if media else server_ref.responder(body)
                wait = server_ref.latency + reply.delay
                if wait:
                    time.sleep(wait)
                if reply.drop:
                    self.close_connection = True
                    self.connection.close()
                    return
                if reply.data is not None:
                    self._send(reply.status, reply.data, reply.headers, reply.content_type)
                elif reply.raw_body is not None:
                    self._send(reply.status, reply.raw_body, reply.headers)
                elif reply.status != 200:
                    self._send(reply.status, json.dumps({"error": {"message": f"loopback error {reply.status}",
                                                                   "type": "loopback"}}), reply.headers)
                else:
                    self._send(200, json.dumps({
                        "id": "chatcmpl-loopback", "object": "chat.completion", "created": int(time.time()),
                        "model": body.get("model", server_ref.model),
                        "choices": [{"index": 0, "finish_reason": "stop",
                                     "message": {"role": "assistant", "content": reply.content}}],
                        "usage": {"prompt_tokens": reply.prompt_tokens, "completion_tokens": reply.completion_tokens,
                                  "total_tokens": reply.prompt_tokens + reply.completion_tokens},
                    }), reply.headers)

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            request_queue_size = 512
            allow_reuse_address = True  # a server restarted on the same port (an endpoint coming back)

        self._server = Server(("127.0.0.1", self.port), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="loopback-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> "LoopbackServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
