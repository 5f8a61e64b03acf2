"""Posting a webhook safely: resolve the host once, refuse internal addresses, connect to the checked address.

- Server-side request forgery: every address the host resolves to must be public unless the subscription has an
  operator-set `allow_private_network`; the connection goes to the address that was checked (no second lookup a
  DNS rebinding could change).
- A receiver that hangs cannot hold a worker: connect and read timeouts, plus an overall deadline while reading.
- Redirects are never followed (a 3xx is a failed attempt), so a public URL cannot bounce us to an internal one.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

MAX_RESPONSE_BYTES = 4096


class DeliveryRefused(Exception):
    """The URL may not be called (bad scheme, internal address, unresolvable host)."""


@dataclass(frozen=True)
class PostResult:
    status_code: int
    body: str
    duration_ms: int


def _is_public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return not (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        or not address.is_global
    )


def resolve_checked(host: str, port: int, *, allow_private_network: bool) -> str:
    """The address to connect to; DeliveryRefused when any resolved address is not public (unless allowed)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as error:
        raise DeliveryRefused(f"cannot resolve {host}: {error}") from None
    addresses = [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos]
    if not addresses:
        raise DeliveryRefused(f"cannot resolve {host}")
    if not allow_private_network:
        blocked = [str(address) for address in addresses if not _is_public(address)]
        if blocked:
            raise DeliveryRefused(f"{host} resolves to a non-public address ({', '.join(blocked)})")
    return str(addresses[0])


def check_url(url: str) -> tuple[str, str, int, str]:
    """(scheme, host, port, path?query) of an http(s) URL, or DeliveryRefused."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise DeliveryRefused("only http and https URLs can receive webhooks")
    if parts.username or parts.password:
        raise DeliveryRefused("credentials in the URL are not allowed; use the signing secret")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise DeliveryRefused("invalid port") from None
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    return parts.scheme, parts.hostname, port, path


class _PinnedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._address = address

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


def post(*, url: str, body: bytes, headers: dict[str, str], allow_private_network: bool) -> PostResult:
    """POST once. Raises DeliveryRefused (not to be called), OSError/HTTPException (network) or TimeoutError."""
    scheme, host, port, path = check_url(url)
    address = resolve_checked(host, port, allow_private_network=allow_private_network)
    connect_timeout = settings.HEARTH_WEBHOOK_CONNECT_TIMEOUT
    read_timeout = settings.HEARTH_WEBHOOK_READ_TIMEOUT
    deadline = time.monotonic() + connect_timeout + read_timeout
    connection_class = _PinnedHTTPSConnection if scheme == "https" else _PinnedHTTPConnection
    connection = connection_class(host, port, address, timeout=connect_timeout)
    started = time.monotonic()
    try:
        connection.connect()
        connection.sock.settimeout(read_timeout)
        connection.request("POST", path, body=body, headers={**headers, "Content-Length": str(len(body))})
        response = connection.getresponse()
        chunks: list[bytes] = []
        received = 0
        # A receiver that trickles bytes forever still ends at the deadline.
        while received < MAX_RESPONSE_BYTES:
            if time.monotonic() > deadline:
                raise TimeoutError("the receiver took too long to answer")
            chunk = response.read1(MAX_RESPONSE_BYTES - received) if hasattr(response, "read1") else b""
            if not chunk:
                break
            chunks.append(chunk)
            received += len(chunk)
        return PostResult(
            status_code=response.status,
            body=b"".join(chunks).decode(errors="replace"),
            duration_ms=int((time.monotonic() - started) * 1000),
        )
    finally:
        connection.close()
