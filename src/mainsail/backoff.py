"""How long to wait before restarting a process that exited: 1 s, 2 s, 4 s … capped at 30 s,
back to 1 s once a run lasted ``reset_after`` seconds. Pure; the caller measures uptime.

Shared by the app supervisor (``mainsail.platform``) and the node agent's Envoys
(``mainsail.agent``), which may not import each other; so it lives at the top, like ``naming``.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True, kw_only=True)
class RestartBackoff:
    initial: float = 1.0
    cap: float = 30.0
    reset_after: float = 10.0
    _failures: int = field(default=0, init=False)

    def delay_after_exit(self, uptime: float) -> float:
        """The delay before the next start, given how long the run that just ended lasted."""
        if uptime >= self.reset_after:
            self._failures = 0
        delay: float = min(self.cap, self.initial * float(2**self._failures))
        if delay < self.cap:
            self._failures += 1
        return delay
