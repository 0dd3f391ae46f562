"""Responses as the bytes gRPC writes, assembled from each resource's encoding.

At 1000 services the HTTP-proxy route table is one 5 MB resource; a push sends it to every
proxy. Copying it into a protobuf message per proxy and serializing that message again cost
~8 ms per proxy on the control plane's one thread (0.8 s per push for 100 proxies). Here a
resource is encoded once per (name, version), a content hash, and a response is the
concatenation of the encodings in field-number order, so its bytes equal
``SerializeToString()`` of the message (``tests/ads/test_encoding.py``). The message itself
is parsed from those bytes only when someone reads a field (tests, the simulated Envoy).

Proxies that get the same content with the same nonce (``ads.numbering``) share one
response, bytes included (``shared_response``): the 5 MB table is joined once per push,
not once per proxy.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Sequence
from typing import Any, Final

from envoy.service.discovery.v3 import discovery_pb2

from mainsail.xds.resources import XdsResource

_CACHE_BYTES: Final = 128 * 1024 * 1024
_delta_entries: dict[tuple[str, str], bytes] = {}
_sotw_entries: dict[tuple[str, str], bytes] = {}
_cached_bytes = 0
# Whole responses by (content, nonce), for the proxies of a push that get the same ones.
_RESPONSE_BYTES: Final = 64 * 1024 * 1024
_RESPONSES: Final = 4096
_responses: dict[tuple[Hashable, str], EncodedResponse] = {}
_response_bytes = 0
# Bytes of responses assembled since start (benchmarks: what sharing saved).
_assembled = [0]


class EncodedResponse:
    """A (Delta)DiscoveryResponse: ``encoded`` for the wire, the message's fields on demand."""

    __slots__ = ("_kind", "_message", "encoded", "type_url")

    def __init__(self, kind: Any, encoded: bytes, type_url: str = "") -> None:
        self._kind = kind
        self._message: Any = None
        self.encoded = encoded
        # Read for every response sent (``monitoring.xds_sent``): parsing a 5 MB route table
        # to learn it cost ~20 ms per proxy and push.
        self.type_url = type_url

    @property
    def message(self) -> Any:
        if self._message is None:
            self._message = self._kind.FromString(self.encoded)
        return self._message

    def __getattr__(self, name: str) -> Any:
        return getattr(self.message, name)

    def __repr__(self) -> str:
        return repr(self.message)


def serialize(response: Any) -> bytes:
    """The gRPC response serializer: the assembled bytes, or a plain message serialized."""
    if isinstance(response, EncodedResponse):
        return response.encoded
    return bytes(response.SerializeToString())


def response_content(
    *,
    delta: bool,
    version: str,
    type_url: str,
    resources: Sequence[XdsResource],
    removed: Sequence[str] = (),
) -> Hashable:
    """What a response's bytes are made of, but its nonce (a resource's bytes follow from its
    name and version, a content hash)."""
    return (
        delta,
        type_url,
        version,
        tuple((r.name, r.version) for r in resources),
        tuple(removed) if delta else (),
    )


def shared_response(
    content: Hashable, nonce: str, build: Callable[[], EncodedResponse]
) -> EncodedResponse:
    """The response ``build`` makes, made once for every session sending this content with
    this nonce (``content`` from ``response_content``)."""
    global _response_bytes
    key = (content, nonce)
    found = _responses.get(key)
    if found is None:
        found = build()
        _assembled[0] += len(found.encoded)
        if _response_bytes + len(found.encoded) > _RESPONSE_BYTES or len(_responses) >= _RESPONSES:
            _responses.clear()
            _response_bytes = 0
        _responses[key] = found
        _response_bytes += len(found.encoded)
    return found


def assembled_bytes() -> int:
    """Bytes of the responses assembled so far (a shared response counts once)."""
    return _assembled[0]


def delta_response(
    *,
    version: str,
    type_url: str,
    nonce: str,
    resources: Iterable[XdsResource],
    removed: Iterable[str] = (),
) -> EncodedResponse:
    parts = [_string(1, version)]
    parts += (_delta_entry(r) for r in resources)
    parts += (_string(4, type_url), _string(5, nonce))
    parts += (_string(6, name) for name in removed)
    return EncodedResponse(discovery_pb2.DeltaDiscoveryResponse, b"".join(parts), type_url)


def sotw_response(
    *, version: str, type_url: str, nonce: str, resources: Iterable[XdsResource]
) -> EncodedResponse:
    parts = [_string(1, version)]
    parts += (_sotw_entry(r) for r in resources)
    parts += (_string(4, type_url), _string(5, nonce))
    return EncodedResponse(discovery_pb2.DiscoveryResponse, b"".join(parts), type_url)


def _delta_entry(resource: XdsResource) -> bytes:
    """``resources`` field of a DeltaDiscoveryResponse: Resource{version, resource, name}."""
    key = (resource.name, resource.version)
    found = _delta_entries.get(key)
    if found is None:
        body = _field(2, resource.body.SerializeToString(deterministic=True))
        entry = _string(1, resource.version) + body + _string(3, resource.name)
        found = _remember(_delta_entries, key, _field(2, entry))
    return found


def _sotw_entry(resource: XdsResource) -> bytes:
    """``resources`` field of a DiscoveryResponse: the Any itself."""
    key = (resource.name, resource.version)
    found = _sotw_entries.get(key)
    if found is None:
        found = _remember(
            _sotw_entries, key, _field(2, resource.body.SerializeToString(deterministic=True))
        )
    return found


def _remember(cache: dict[tuple[str, str], bytes], key: tuple[str, str], value: bytes) -> bytes:
    """Keep encodings of about the last snapshots (versions are content hashes: never stale)."""
    global _cached_bytes
    if _cached_bytes + len(value) > _CACHE_BYTES:
        _delta_entries.clear()
        _sotw_entries.clear()
        _cached_bytes = 0
    cache[key] = value
    _cached_bytes += len(value)
    return value


def _string(number: int, text: str) -> bytes:
    """A string field; proto3 leaves an empty one out, as ``SerializeToString`` does."""
    return _field(number, text.encode()) if text else b""


def _field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)
