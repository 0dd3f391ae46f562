"""The pod's merged Prometheus page on the agent's status port (``:15020/stats/prometheus``).

As pilot-agent's: Envoy's own ``/stats/prometheus`` (Istio's ``istio_*`` metrics and Envoy's
``envoy_*``), then the agent's metrics for that pod, in the text exposition format (no client
library: a few gauges written by hand). An Envoy that does not answer leaves its part out and
says so in ``istio_agent_scrape_failed``. Apps declaring their own metrics are not merged yet.
"""

from __future__ import annotations

from dataclasses import dataclass

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentGauges:
    envoy_ready: bool
    envoy_scrape_failed: bool
    uptime_seconds: float


def agent_metrics_text(gauges: AgentGauges) -> str:
    rows = [
        (
            "istio_agent_envoy_ready",
            "1 when the pod's Envoy is ready (first CDS and LDS accepted).",
            float(gauges.envoy_ready),
        ),
        (
            "istio_agent_scrape_failed",
            "1 when this scrape could not read Envoy's /stats/prometheus.",
            float(gauges.envoy_scrape_failed),
        ),
        (
            "istio_agent_uptime_seconds",
            "Seconds since the agent started serving this pod.",
            gauges.uptime_seconds,
        ),
    ]
    lines = []
    for name, help_text, value in rows:
        lines += [f"# HELP {name} {help_text}", f"# TYPE {name} gauge", f"{name} {value:g}"]
    return "\n".join(lines) + "\n"


def merge(envoy_text: str, agent_text: str) -> str:
    if envoy_text and not envoy_text.endswith("\n"):
        envoy_text += "\n"
    return envoy_text + agent_text
