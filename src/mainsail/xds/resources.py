"""The translated output handed to the ADS server: packed resources with content-hash versions.

Each resource is serialized exactly once per snapshot; every proxy that receives it shares the
same ``XdsResource`` (and bytes).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from google.protobuf import any_pb2
from google.protobuf.message import Message


@dataclass(frozen=True, slots=True)
class XdsResource:
    """One named Envoy resource, packed in an ``Any``; ``version`` is a hash of its bytes."""

    name: str
    version: str
    body: any_pb2.Any
    # A 64-bit digest of (name, version): set versions are sums of these (see ``set_version``).
    token: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        digest = hashlib.blake2b(f"{self.name}\0{self.version}".encode(), digest_size=8).digest()
        object.__setattr__(self, "token", int.from_bytes(digest, "big"))

    @classmethod
    def pack(cls, name: str, message: Message) -> XdsResource:
        body = any_pb2.Any()
        body.Pack(message, deterministic=True)
        digest = hashlib.blake2b(body.value, digest_size=10).hexdigest()
        return cls(name=name, version=digest, body=body)


@dataclass(frozen=True, slots=True)
class ProxyConfig:
    """Everything one proxy should hold, by type URL then resource name."""

    resources: Mapping[str, Mapping[str, XdsResource]] = field(
        default_factory=lambda: MappingProxyType({})
    )

    @classmethod
    def of(cls, by_type: Mapping[str, Iterable[XdsResource]]) -> ProxyConfig:
        return cls(
            MappingProxyType(
                {
                    type_url: MappingProxyType({r.name: r for r in items})
                    for type_url, items in by_type.items()
                }
            )
        )

    def of_type(self, type_url: str) -> Mapping[str, XdsResource]:
        return self.resources.get(type_url, MappingProxyType({}))

    def version(self, type_url: str) -> str:
        """Content hash over the names and versions of one type (the SotW ``version_info``)."""
        return set_version(self.of_type(type_url).values())


def set_version(resources: Iterable[XdsResource]) -> str:
    """The version of a set of named resources: order-free, and cheap to recompute (a sum of
    per-resource digests, each computed once), since sessions ask for it on every response."""
    total = 0
    count = 0
    for resource in resources:
        total = (total + resource.token) & 0xFFFFFFFFFFFFFFFF
        count += 1
    return f"{total ^ (count * 0x9E3779B97F4A7C15 & 0xFFFFFFFFFFFFFFFF):016x}"
