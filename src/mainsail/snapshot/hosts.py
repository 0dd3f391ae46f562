"""Host names as Istio resolves and compares them (short names, wildcards, gateway references)."""

from __future__ import annotations

import ipaddress


def resolve_short_name(host: str, namespace: str, domain: str = "cluster.local") -> str:
    """``reviews`` in namespace ``default`` → ``reviews.default.svc.cluster.local``.

    Names with a dot, ``*`` wildcards and IP addresses are taken literally (Istio's
    ``ResolveShortnameToFQDN``).
    """
    if "." in host or host.startswith("*") or _is_ip(host):
        return host
    return f"{host}.{namespace}.svc.{domain}"


def resolve_gateway_name(gateway: str, namespace: str) -> str:
    """A VirtualService ``gateways`` entry → ``<ns>/<name>`` (``mesh`` stays ``mesh``)."""
    if gateway == "mesh":
        return gateway
    if "/" in gateway:
        ns, _, name = gateway.partition("/")
        return f"{namespace if ns == '.' else ns}/{name}"
    if "." in gateway:
        # Legacy form ``name.namespace.svc.cluster.local`` (or ``name.namespace``).
        name, ns = gateway.split(".")[:2]
        return f"{ns}/{name}"
    return f"{namespace}/{gateway}"


def host_matches(pattern: str, host: str) -> bool:
    """Does ``pattern`` (possibly ``*`` / ``*.suffix``) cover the concrete ``host``?"""
    if pattern == "*":
        return True
    if pattern.startswith("*"):
        return host.endswith(pattern[1:])
    return pattern == host


def hosts_intersect(a: str, b: str) -> bool:
    """Whether two host patterns (either may be a wildcard) can name the same host."""
    if a == "*" or b == "*":
        return True
    if a.startswith("*") and b.startswith("*"):
        return a.endswith(b[1:]) or b.endswith(a[1:])
    if a.startswith("*"):
        return b.endswith(a[1:])
    if b.startswith("*"):
        return a.endswith(b[1:])
    return a == b


def specificity(pattern: str) -> tuple[int, int]:
    """Sort key: exact names before wildcards, longer wildcards before shorter ones."""
    return (1, -len(pattern)) if pattern.startswith("*") else (0, -len(pattern))


_NOT_IN_ADDRESSES = frozenset("ghijklmnopqrstuvwxyzGHIJKLMNOPQRSTUVWXYZ-_*")


def _is_ip(text: str) -> bool:
    if not _NOT_IN_ADDRESSES.isdisjoint(text):
        return False  # a letter beyond hex, a dash, ...: a name (most hosts; ip_network is slow)
    try:
        ipaddress.ip_network(text, strict=False)
    except ValueError:
        return False
    return True
