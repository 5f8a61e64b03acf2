"""Generated API testing: schemathesis against the live `/api/schema/`, as two member peers and an operator.

Every operation in the schema is tried (so endpoints added later are covered without a change here) with a fixed
seed and a bounded number of examples. The run fails on any server error, on an operation that serves a request
sent without credentials (`ignored_auth`), and on a member's object that the other member can read
(`object_level_authorization`: each peer's successful reads are replayed as the other peer).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from community import services
from tests.security.conftest import build_world
from tests.security.routes import route_modules

ROOT = Path(__file__).resolve().parents[2]
ST = Path(sys.executable).with_name("st")
CHECKS = "not_a_server_error,ignored_auth,object_level_authorization"
SEED = 20251201
MAX_EXAMPLES = int(os.environ.get("HEARTH_FUZZ_EXAMPLES", "5"))


def _peer_objects(world) -> None:
    """`other_member` owns objects of their own too, so each peer has something the other must not read."""
    mirror = type(world)(
        member=world.other_member,
        other_member=world.member,
        moderator=world.moderator,
        operator=world.operator,
        secret=world.secret + "-b",
    )
    for name, module in route_modules().items():
        make = getattr(module, "objects", None)
        if make is not None and name != "community":
            make(mirror)


def _write_config(tmp_path: Path, tokens: dict[str, str]) -> Path:
    auth = {
        "auth": [
            {"name": name, "fixedHeaders": [{"name": "Authorization", "value": f"Bearer {key}"}]}
            for name, key in tokens.items()
        ]
    }
    wfc = tmp_path / "wfc.json"
    wfc.write_text(json.dumps(auth))
    config = tmp_path / "schemathesis.toml"
    config.write_text(
        "\n".join(
            [
                f"seed = {SEED}",
                "[generation]",
                f"max-examples = {MAX_EXAMPLES}",
                'database = "none"',
                "[auth.wfc]",
                f'path = "{wfc}"',
                'peers = ["member", "other_member"]',
                "",
            ]
        )
    )
    return config


@pytest.mark.django_db(transaction=True)
def test_the_api_holds_up_to_generated_requests(live_server, tmp_path):
    world = build_world()
    _peer_objects(world)
    tokens = {
        persona: services.api_token_create(user=world.persona(persona).user, name=f"fuzz {persona}")[1]
        for persona in ("member", "other_member", "operator")
    }
    config = _write_config(tmp_path, tokens)
    report = tmp_path / "report"

    result = subprocess.run(
        [
            str(ST),
            "--no-color",
            "--config-file",
            str(config),
            "run",
            f"{live_server.url}/api/schema/",
            "--checks",
            CHECKS,
            "--phases",
            os.environ.get("HEARTH_FUZZ_PHASES", "examples,fuzzing,stateful"),
            "--no-shrink",
            "--workers",
            "1",
            "--request-timeout",
            "20",
            "--report",
            "junit",
            "--report-dir",
            str(report),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "SCHEMATHESIS_HOOKS": ""},
    )

    output = result.stdout + result.stderr
    artifacts = ROOT / ".ci" / "artifacts"
    artifacts.mkdir(parents=True, exist_ok=True)
    (artifacts / "schemathesis.txt").write_text(output)
    assert result.returncode == 0, output[-20000:]
    assert " generated, " in output and "Tested: 0" not in output, output[-5000:]
