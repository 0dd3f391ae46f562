"""Response numbers (a session's ``seq``, sent as the nonce), shared across proxies.

A weight change at 1000 services sends every proxy the same 5 MB route table. The response
bytes differ only by their nonce, and each session numbered its responses 1, 2, 3, ..., so
every proxy's response was assembled anew: a 5 MB ``bytes.join`` per proxy (~2 ms each on
this machine, 0.2 s of a push for 100 proxies). With one ``SharedNumbers`` per server, a
session sending the same content as another session sent before gets that response's
number when it is still above its own last one, hence the same nonce and the same bytes
(``encoding.shared_response``).

A session's numbers stay strictly increasing, which is all it relies on: nonces are unique
within its stream, and its sequence comparisons (what changed after what was carried or
ACKed) hold as with its own counter (``OwnNumbers``, the default; the oracle test's).
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Final, Protocol

# Contents remembered (a push sends a few distinct large ones; the rest is a bounded memo).
_REMEMBERED: Final = 4096


class ResponseNumbers(Protocol):
    def after(self, last: int, content: Hashable) -> int:
        """A number above ``last`` for a response with this content."""
        ...


class OwnNumbers:
    """A session's own counter: 1, 2, 3, ..."""

    __slots__ = ()

    def after(self, last: int, content: Hashable) -> int:
        return last + 1


class SharedNumbers:
    """One numbering for all sessions of a server: equal content, equal number where allowed."""

    __slots__ = ("_by_content", "_last")

    def __init__(self) -> None:
        self._last = 0
        self._by_content: dict[Hashable, int] = {}

    def after(self, last: int, content: Hashable) -> int:
        found = self._by_content.get(content)
        if found is not None and found > last:
            return found
        if len(self._by_content) >= _REMEMBERED:
            self._by_content.clear()
        self._last = max(self._last, last) + 1
        self._by_content[content] = self._last
        return self._last
