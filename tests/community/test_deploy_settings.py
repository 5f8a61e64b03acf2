"""Production settings: hardened enough for `check --deploy`, and refusing unsafe values at start."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
STRONG_KEY = "k" * 20 + "Z9x#Q2m!T7v@L4p$W8r^" + "y" * 20


def run_manage(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    # DJANGO_ALLOW_ASYNC_UNSAFE is set for the browser tests in this process; a deployment never has it.
    environment = {k: v for k, v in os.environ.items() if k not in {"DEBUG", "SECRET_KEY", "DJANGO_ALLOW_ASYNC_UNSAFE"}}
    environment.update(
        {"DJANGO_SETTINGS_MODULE": "community.settings.production", "HEARTH_VAR_DIR": str(ROOT / "var"), **env}
    )
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=120
    )


def test_production_settings_pass_deploy_check():
    result = run_manage(
        "check", "--deploy", "--fail-level", "WARNING", SECRET_KEY=STRONG_KEY, ALLOWED_HOSTS="community.example.com"
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"SECRET_KEY": "short"}, "SECRET_KEY must be a random string"),
        ({"SECRET_KEY": STRONG_KEY, "DEBUG": "true"}, "DEBUG must be false"),
        ({"SECRET_KEY": STRONG_KEY, "DEBUG": "maybe"}, "DEBUG must be a boolean"),
        ({"SECRET_KEY": STRONG_KEY, "DATABASE_URL": "mysql://x"}, "DATABASE_URL must start with one of"),
        ({"SECRET_KEY": STRONG_KEY, "TIME_ZONE": "Mars/Base"}, "TIME_ZONE must be an IANA time zone"),
        ({"SECRET_KEY": STRONG_KEY, "EMAIL_PORT": "twenty-five"}, "EMAIL_PORT must be a whole number"),
        ({}, "Set the environment variable SECRET_KEY"),
    ],
)
def test_bad_configuration_fails_at_start_with_a_clear_message(env, message):
    result = run_manage("check", **env)
    assert result.returncode != 0
    assert message in result.stderr
