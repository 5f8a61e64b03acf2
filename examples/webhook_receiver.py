#!/usr/bin/env python3
"""A local test receiver for Hearth webhooks: verifies each signature, prints each event once.

Standard library only. Run it, then subscribe its URL in the Hearth admin (tick "allow private network
addresses": it listens on 127.0.0.1) or over the API:

    HEARTH_WEBHOOK_SECRET=whsec_… python examples/webhook_receiver.py --port 8765
    HEARTH_WEBHOOK_SECRET=whsec_… python examples/webhook_receiver.py --fail 3   # answer 500 three times first

It answers 200 to a correctly signed delivery (also to a repeat of an event it already saw: deliveries are
at-least-once, so dedupe by the event id), 400 to a bad or stale signature.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import hmac
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def verify_signature(secret: str, body: bytes, header: str, tolerance: int = 300) -> bool:
    """True when `header` ("t=<unix time>,v1=<hex>") signs `body` with `secret` and is at most `tolerance` s old."""
    try:
        fields = dict(item.strip().split("=", 1) for item in header.split(","))
        timestamp = int(fields["t"])
        received = fields["v1"]
    except (KeyError, ValueError):
        return False
    if abs(time.time() - timestamp) > tolerance:
        return False  # too old (or from the future): a replay
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, received)


class Receiver(BaseHTTPRequestHandler):
    secret = ""
    fail_remaining = 0
    seen: set[str] = set()
    lock = threading.Lock()

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if not verify_signature(self.secret, body, self.headers.get("Hearth-Signature", "")):
            self._answer(400, "bad signature")
            return
        with self.lock:
            if Receiver.fail_remaining > 0:
                Receiver.fail_remaining -= 1
                self._answer(500, "simulated outage")
                return
            event = json.loads(body)
            first_time = event["id"] not in self.seen
            self.seen.add(event["id"])
        if first_time:
            print(f"{event['created_at']} {event['type']} {json.dumps(event['data'], ensure_ascii=False)}", flush=True)
        self._answer(200, "ok")

    def _answer(self, status: int, text: str) -> None:
        payload = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: object) -> None:  # quiet: print events only
        pass


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--fail", type=int, default=0, help="answer 500 to the first N deliveries")
    args = parser.parse_args()
    secret = os.environ.get("HEARTH_WEBHOOK_SECRET", "")
    if not secret:
        print("Set HEARTH_WEBHOOK_SECRET to the subscription's signing secret.", file=sys.stderr)
        return 2
    Receiver.secret = secret
    Receiver.fail_remaining = args.fail
    server = ThreadingHTTPServer((args.host, args.port), Receiver)
    print(f"Listening on http://{args.host}:{args.port}/", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
