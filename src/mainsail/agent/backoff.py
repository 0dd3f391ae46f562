"""Envoy restart back-off: 1 s, 2 s, 4 s … capped, back to the start after a long enough run.

Same policy as ``mainsail.platform.backoff`` (the layer contract keeps agent and platform
independent, so the 20 lines live in both).
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
        if uptime >= self.reset_after:
            self._failures = 0
        delay: float = min(self.cap, self.initial * float(2**self._failures))
        if delay < self.cap:
            self._failures += 1
        return delay
