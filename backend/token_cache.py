"""Verified API tokens remembered for a few seconds, so a request with a user or worker token does not read the
token table (a thread-pool trip and a query) every time.

The bound: a token revoked through this server's API (`POST /tokens/{id}/revoke`) is refused from the next
request on, since the revoke forgets the token here right after its commit; one revoked another way (the
`xclab token revoke` command on the database, or another API process on the same database) is refused at the
latest `TOKEN_CACHE_TTL_S` seconds later. A lookup that raced a revoke cannot put the token back: an entry is
only stored when no token was forgotten since the lookup began (`generation`).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

TOKEN_CACHE_TTL_S = 5.0
TOKEN_CACHE_SIZE = 1_024  # distinct live tokens remembered; past it the oldest entry goes


@dataclass(frozen=True)
class CachedToken:
    token_id: int
    role: str
    name: str


class TokenCache:
    """sha256 of a token -> its row's id, role and name, each entry valid for `ttl` seconds."""

    def __init__(self, ttl: float = TOKEN_CACHE_TTL_S, size: int = TOKEN_CACHE_SIZE) -> None:
        self.ttl, self.size = ttl, size
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[float, CachedToken]] = {}
        self.generation = 0  # bumped by every forget

    def get(self, digest: str) -> CachedToken | None:
        entry = self._entries.get(digest)
        if entry is None:
            return None
        expires, token = entry
        if time.monotonic() >= expires:
            with self._lock:
                self._entries.pop(digest, None)
            return None
        return token

    def put(self, digest: str, token: CachedToken, generation: int) -> None:
        """Remember a token read from the database by a lookup that started at `generation`."""
        with self._lock:
            if generation != self.generation:
                return  # a token was revoked while this lookup ran: this row may be stale
            if len(self._entries) >= self.size:
                self._entries.pop(next(iter(self._entries)))
            self._entries[digest] = (time.monotonic() + self.ttl, token)

    def forget(self, token_id: int) -> None:
        """Drop a token (call after the commit that revoked it)."""
        with self._lock:
            self.generation += 1
            for digest in [d for d, (_, t) in self._entries.items() if t.token_id == token_id]:
                del self._entries[digest]
