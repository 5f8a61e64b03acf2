"""Webhook signatures: HMAC-SHA256 over "<timestamp>.<body>", sent as `Hearth-Signature: t=<unix>,v1=<hex>`.

The timestamp is signed with the body, so a captured request cannot be replayed later than the receiver's
tolerance (five minutes by default). The same check, with only the standard library, is in docs/integrations.md
and examples/webhook_receiver.py.
"""

from __future__ import annotations

import hashlib
import hmac
import time

SIGNATURE_HEADER = "Hearth-Signature"
EVENT_ID_HEADER = "Hearth-Event-Id"
EVENT_TYPE_HEADER = "Hearth-Event-Type"
DELIVERY_HEADER = "Hearth-Delivery"
DEFAULT_TOLERANCE_SECONDS = 300


def sign(*, secret: str, body: bytes, timestamp: int) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify(
    *, secret: str, body: bytes, header: str, tolerance: int = DEFAULT_TOLERANCE_SECONDS, now: float | None = None
) -> bool:
    """True when `header` is a valid signature of `body` made within `tolerance` seconds of `now`."""
    parts: dict[str, list[str]] = {}
    for item in header.split(","):
        key, _sep, value = item.strip().partition("=")
        parts.setdefault(key, []).append(value)
    try:
        timestamp = int(parts["t"][0])
    except (KeyError, ValueError):
        return False
    if abs((now if now is not None else time.time()) - timestamp) > tolerance:
        return False
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return any(hmac.compare_digest(expected, candidate) for candidate in parts.get("v1", []))
