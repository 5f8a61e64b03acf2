"""Django's Redis cache, keeping one client per connection pool.

The stock backend builds a new `redis.Redis` object for every cache call, and building one sets up its table of
response callbacks (a few hundred entries): a measurable share of a fast API request, which makes several cache
calls (rate limits, cached configuration). The client is thread-safe and shares the pool, so one per pool will do.
"""

from __future__ import annotations

from typing import Any

from django.core.cache.backends.redis import RedisCache, RedisCacheClient


class PooledClientRedisCacheClient(RedisCacheClient):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._clients: dict[int, Any] = {}

    def get_client(self, key: Any = None, *, write: bool = False) -> Any:
        pool = self._get_connection_pool(write)
        client = self._clients.get(id(pool))
        if client is None:
            client = self._clients.setdefault(id(pool), self._client(connection_pool=pool))
        return client


class PooledClientRedisCache(RedisCache):
    def __init__(self, server: str, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._class = PooledClientRedisCacheClient

    def shares_server(self, url: str) -> bool:
        """Whether this cache is the Redis (server and database) at `url`."""
        return bool(url) and list(self._servers) == [url]

    def count(self, key: str, timeout: int | None = None, *, amount: int = 1) -> int:
        """Add `amount` to a counter, starting it at 0 if missing; with `timeout`, it expires that many seconds
        after it was started. Returns the new count. One round trip (the stock `incr` needs two and fails on a
        missing key)."""
        key = self.make_and_validate_key(key)
        client = self._cache.get_client(key, write=True)
        if timeout is None:
            return int(client.incrby(key, amount))
        pipe = client.pipeline(transaction=True)
        pipe.incrby(key, amount)
        pipe.expire(key, timeout, nx=True)
        count, _expiry_set = pipe.execute()
        return int(count)
