from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable
from zoneinfo import ZoneInfo

from django.http import HttpRequest, HttpResponse
from django.utils import timezone


class MemberTimezoneMiddleware:
    """Show times in the signed-in member's own time zone."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        member = getattr(request.user, "member", None) if request.user.is_authenticated else None
        if member is not None:
            timezone.activate(ZoneInfo(member.time_zone))
        else:
            timezone.deactivate()
        return self.get_response(request)


# Only the app's own scripts run: templates carry no inline <script> and no on*= attributes. Inline style attributes
# stay allowed (a few templates colour elements from data), which cannot run code.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'self'; frame-ancestors 'none'; form-action 'self'"
)
# The API docs pages (drf-spectacular's Swagger UI and Redoc, assets served locally by the sidecar) get a relaxed
# policy of their own: Swagger UI's one inline start-up script is allowed by its hash, Redoc builds a web worker from
# a blob: URL. No other page gets either.
API_DOCS_PATH_PREFIXES = ("/api/docs/", "/api/redoc/")
_INLINE_SCRIPT = re.compile(rb"<script>(.*?)</script>", re.DOTALL)


def api_docs_policy(content: bytes) -> str:
    hashes = "".join(
        f" 'sha256-{base64.b64encode(hashlib.sha256(script).digest()).decode()}'"
        for script in _INLINE_SCRIPT.findall(content)
    )
    return (
        f"default-src 'self'; script-src 'self'{hashes}; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
        "worker-src 'self' blob:; object-src 'none'; base-uri 'self'; frame-ancestors 'none'; form-action 'self'"
    )


class SecurityHeadersMiddleware:
    """Give every response a Content-Security-Policy, X-Content-Type-Options and Referrer-Policy.

    Django's SecurityMiddleware sets the last two from settings; this keeps them on responses that bypass it and
    adds the policy, which Django 5.2 has no setting for. A view that sets its own policy keeps it.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if "Content-Security-Policy" not in response:
            docs_page = request.path.startswith(API_DOCS_PATH_PREFIXES) and not getattr(response, "streaming", False)
            if docs_page and hasattr(response, "render") and not response.is_rendered:
                response.render()
            response["Content-Security-Policy"] = (
                api_docs_policy(response.content) if docs_page else CONTENT_SECURITY_POLICY
            )
        if "X-Content-Type-Options" not in response:
            response["X-Content-Type-Options"] = "nosniff"
        if "Referrer-Policy" not in response:
            response["Referrer-Policy"] = "same-origin"
        return response
