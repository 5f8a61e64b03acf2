"""Security headers on every HTML answer, and production's cookie flags."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from community.middleware import CONTENT_SECURITY_POLICY

ROOT = Path(__file__).resolve().parents[2]
STRONG_KEY = "k" * 20 + "Z9x#Q2m!T7v@L4p$W8r^" + "y" * 20


@pytest.mark.parametrize("url", ["/", "/accounts/login/", "/accounts/signup/", "/no-such-page/"])
def test_html_pages_carry_the_policy_and_the_other_headers(client, db, url):
    response = client.get(url)

    assert response["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"


def test_the_policy_allows_no_inline_script_and_no_framing():
    directives = dict(part.strip().split(" ", 1) for part in CONTENT_SECURITY_POLICY.split(";"))

    assert directives["script-src"] == "'self'"
    assert directives["object-src"] == "'none'"
    assert directives["frame-ancestors"] == "'none'"
    assert directives["default-src"] == "'self'"


def test_the_signed_in_portal_and_the_admin_carry_the_policy(web_operator):
    for url in ("/", "/settings/profile/", "/admin/"):
        assert web_operator.get(url)["Content-Security-Policy"] == CONTENT_SECURITY_POLICY, url


@pytest.mark.parametrize("url", ["/api/docs/", "/api/redoc/"])
def test_the_api_docs_get_a_relaxed_policy_of_their_own(client, db, url):
    response = client.get(url)
    policy = response["Content-Security-Policy"]

    assert response.status_code == 200
    assert "worker-src 'self' blob:" in policy
    assert "'unsafe-inline'" not in policy.split("script-src", 1)[1].split(";")[0]
    assert "'unsafe-eval'" not in policy


def test_swagger_uis_inline_start_up_script_is_allowed_by_its_hash_only(client, db):
    import base64
    import hashlib
    import re

    response = client.get("/api/docs/")
    scripts = re.findall(rb"<script>(.*?)</script>", response.content, re.DOTALL)
    digests = {base64.b64encode(hashlib.sha256(script).digest()).decode() for script in scripts}

    assert scripts
    assert all(f"'sha256-{digest}'" in response["Content-Security-Policy"] for digest in digests)


def test_json_answers_carry_nosniff(api_member):
    response = api_member.get("/api/v1/members/me/")

    assert response["X-Content-Type-Options"] == "nosniff"


def _production_settings(**extra: str) -> dict:
    environment = {k: v for k, v in os.environ.items() if k not in {"DEBUG", "SECRET_KEY"}}
    environment.update(
        {
            "DJANGO_SETTINGS_MODULE": "community.settings.production",
            "SECRET_KEY": STRONG_KEY,
            "ALLOWED_HOSTS": "community.example.com",
            "HEARTH_VAR_DIR": str(ROOT / "var"),
            **extra,
        }
    )
    code = (
        "import json, django; django.setup(); from django.conf import settings as s; print(json.dumps({n: getattr(s, n)"
        " for n in dir(s) if n.endswith(('COOKIE_SECURE', 'COOKIE_HTTPONLY', 'COOKIE_SAMESITE')) or n.startswith("
        "'SECURE_')}, default=str))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_production_cookies_are_secure_httponly_and_samesite():
    production = _production_settings()

    for cookie in ("SESSION", "CSRF", "LANGUAGE"):
        assert production[f"{cookie}_COOKIE_SECURE"] is True, cookie
        assert production[f"{cookie}_COOKIE_HTTPONLY"] is True, cookie
        assert production[f"{cookie}_COOKIE_SAMESITE"] in {"Lax", "Strict"}, cookie
    assert production["SECURE_CONTENT_TYPE_NOSNIFF"] is True
    assert production["SECURE_REFERRER_POLICY"] == "same-origin"
    assert production["SECURE_HSTS_SECONDS"] >= 31536000
