"""The cache backend (settings.CACHES): Django's Redis cache with one client per process."""

import threading
from functools import cached_property

from django.core.cache.backends.redis import RedisCache


class SharedRedisCache(RedisCache):
    """Django's Redis cache, with one client, and so one bounded connection pool, per process.

    Django makes a cache object per thread, each with its own client and pool; under ASGI every
    request runs in a thread of its own, so every request opened, and handshook, a new Redis
    connection (a fifth of a detail request's time). The pool's size and wait come from
    REDIS_POOL_MAX_SIZE and REDIS_POOL_TIMEOUT_S.
    """

    _clients: dict[tuple, object] = {}
    _clients_lock = threading.Lock()

    @cached_property
    def _cache(self):
        key = (tuple(self._servers), repr(sorted(self._options.items())))
        with self._clients_lock:
            if key not in self._clients:
                self._clients[key] = self._class(self._servers, **self._options)
            return self._clients[key]
