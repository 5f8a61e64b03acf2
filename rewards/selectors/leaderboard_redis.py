"""The Redis side of the live leaderboards, shared by the reads (`rewards.selectors.leaderboards`) and the
writes (`rewards.services.leaderboards`): the client, Lua scripts called by their hash, pipelines that survive a
Redis restart, and the key layout of the boards."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import redis
from django.conf import settings

_clients: dict[str, redis.Redis] = {}
_scripts: dict[tuple[str, str], Any] = {}
_lock = threading.Lock()


def redis_client() -> redis.Redis | None:
    """The Redis the live boards use (settings.REDIS_URL), or None when Redis is not configured."""
    url = getattr(settings, "REDIS_URL", None)
    if not url:
        return None
    client = _clients.get(url)
    if client is None:
        with _lock:
            client = _clients.get(url)
            if client is None:
                client = redis.Redis.from_url(url, decode_responses=True, socket_timeout=2, socket_connect_timeout=2)
                _clients[url] = client
    return client


class PipelineScript:
    """A Lua script called by its hash. redis-py's own script objects ask Redis whether every script of a
    pipeline is loaded (SCRIPT EXISTS) each time the pipeline runs: one more round trip on every award and
    every board read. This one is loaded once; `run_pipeline` reloads it if Redis has forgotten it."""

    def __init__(self, client: redis.Redis, source: str) -> None:
        self.client = client
        self.source = source
        self.sha = client.script_load(source)

    def reload(self) -> None:
        self.sha = self.client.script_load(self.source)

    def __call__(self, *, keys: list[str], args: list[Any], client: Any) -> Any:
        return client.evalsha(self.sha, len(keys), *keys, *args)

    def run(self, *, keys: list[str], args: list[Any]) -> Any:
        """Call it on its own (no pipeline), loading it again if Redis has forgotten it."""
        try:
            return self(keys=keys, args=args, client=self.client)
        except redis.exceptions.NoScriptError:
            self.reload()
            return self(keys=keys, args=args, client=self.client)


def redis_script(client: redis.Redis, name: str, source: str) -> PipelineScript:
    """A Lua script loaded into this Redis (once per process), to call inside pipelines."""
    url = getattr(settings, "REDIS_URL", "") or ""
    script = _scripts.get((url, name))
    if script is None:
        with _lock:
            script = _scripts.get((url, name))
            if script is None:
                script = _scripts[(url, name)] = PipelineScript(client, source)
    return script


def run_pipeline(client: redis.Redis, fill: Any, *, transaction: bool = False) -> list[Any]:
    """Build a pipeline with `fill(pipe)` and run it; if Redis lost the scripts (a restart), load them again
    and run it once more."""
    for attempt in (1, 2):
        pipe = client.pipeline(transaction=transaction)
        fill(pipe)
        try:
            return pipe.execute()
        except redis.exceptions.NoScriptError:
            if attempt == 2:
                raise
            with _lock:
                for script in _scripts.values():
                    script.reload()
    raise AssertionError("unreachable")


def key_prefix() -> str:
    """Namespace of the leaderboard keys: the cache's key prefix, so separate deployments (and test runs) on one
    Redis never share boards. settings.HEARTH_LEADERBOARD_KEY_PREFIX overrides it."""
    configured = getattr(settings, "HEARTH_LEADERBOARD_KEY_PREFIX", "")
    if configured:
        return configured
    cache_prefix = settings.CACHES.get("default", {}).get("KEY_PREFIX") or "hearth"
    return f"{cache_prefix}:lb"


@dataclass(frozen=True)
class BoardKeys:
    board: str  # sorted set: member -> points in the period
    scores: str  # sorted set of the distinct positive scores (dense ranks)
    counts: str  # hash: score -> how many members have it (to know when a score leaves `scores`)


def board_keys(kind: str, key: str, segment: str = "", *, prefix: str | None = None) -> BoardKeys:
    name = f"b:{kind}:{key}" if not segment else f"s:{kind}:{key}:{segment}"
    prefix = prefix or key_prefix()
    return BoardKeys(f"{prefix}:z:{name}", f"{prefix}:d:{name}", f"{prefix}:c:{name}")


def ready_key(kind: str, key: str, *, prefix: str | None = None) -> str:
    """Present while the period's boards are complete (set by a rebuild, kept until the keys expire)."""
    return f"{prefix or key_prefix()}:ready:{kind}:{key}"


def segment_index_key(kind: str, key: str, *, prefix: str | None = None) -> str:
    """The set of segments that have a board in the period (so a rebuild can drop boards of empty segments)."""
    return f"{prefix or key_prefix()}:idx:{kind}:{key}"


def member_token(member_id: int) -> str:
    # Fixed width, so Redis' lexicographic order among equal scores is the order of member ids.
    return f"{member_id:019d}"
