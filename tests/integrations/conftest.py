"""Integrations fixtures: scoped token clients, and a real HTTP receiver on 127.0.0.1 for webhook deliveries."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from rest_framework.test import APIClient

from community import services
from integrations.services import webhooks


@pytest.fixture(autouse=True)
def _fresh_subscription_cache() -> Iterator[None]:
    webhooks.subscriptions_cache_forget()
    yield
    webhooks.subscriptions_cache_forget()


def token_client(user, *, scopes: list[str] | None = None, name: str = "integration") -> APIClient:
    _token, raw_key = services.api_token_create(user=user, name=name, scopes=scopes or [])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
    return client


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """A local receiver. `script` is what to answer, one entry per request ("ok" once it runs out):
    "ok" → 200, "500" → 500, "redirect" → 302 to another local path, "hang" → sleep `hang_seconds` first."""

    url: str
    requests: list[Received] = field(default_factory=list)
    script: list[str] = field(default_factory=list)
    hang_seconds: float = 3.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def next_answer(self) -> str:
        with self.lock:
            return self.script.pop(0) if self.script else "ok"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state: dict[str, Receiver] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            rcv = state["receiver"]
            with rcv.lock:
                rcv.requests.append(Received(self.path, dict(self.headers.items()), body))
            answer = rcv.next_answer()
            if answer == "hang":
                time.sleep(rcv.hang_seconds)
            if answer == "redirect":
                self.send_response(302)
                self.send_header("Location", "/elsewhere")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            code = 500 if answer == "500" else 200
            payload = b"ok" if code == 200 else b"boom"
            try:
                self.send_response(code)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except OSError:  # the client gave up (a timeout test)
                pass

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state["receiver"] = Receiver(url=f"http://127.0.0.1:{server.server_port}/hooks/hearth")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state["receiver"]
    server.shutdown()
    server.server_close()
