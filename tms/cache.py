"""The cache backend (settings.CACHES): Django's Redis cache with one client per process."""

import threading
from functools import cached_property

from django.core.cache.backends.redis import RedisCache, RedisCacheClient


class ReusedClientRedisCacheClient(RedisCacheClient):
    """Django's client makes a new redis.Redis object for every command, whose constructor fills
    a table of ~170 response callbacks: ~0.2 ms a command, most of a cached answer's Redis time.
    One redis.Redis per pool is enough (it is thread-safe: each command takes a connection from
    the pool)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._clients: dict[int, object] = {}

    def get_client(self, key=None, *, write=False):
        index = self._get_connection_pool_index(write)
        client = self._clients.get(index)
        if client is None:
            client = self._clients[index] = self._client(connection_pool=self._get_connection_pool(write))
        return client


class SharedRedisCache(RedisCache):
    """Django's Redis cache, with one client, and so one bounded connection pool, per process.

    Django makes a cache object per thread, each with its own client and pool; under ASGI every
    request runs in a thread of its own, so every request opened, and handshook, a new Redis
    connection (a fifth of a detail request's time). The pool's size and wait come from
    REDIS_POOL_MAX_SIZE and REDIS_POOL_TIMEOUT_S.
    """

    _clients: dict[tuple, object] = {}
    _clients_lock = threading.Lock()

    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = ReusedClientRedisCacheClient

    @cached_property
    def _cache(self):
        key = (tuple(self._servers), repr(sorted(self._options.items())))
        with self._clients_lock:
            if key not in self._clients:
                self._clients[key] = self._class(self._servers, **self._options)
            return self._clients[key]
