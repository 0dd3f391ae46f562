"""The ``http_proxy`` RouteConfiguration packed from its virtual hosts' cached encodings.

At 1000 services the HTTP-proxy table is ~5 MB and every VirtualService edit makes a new one
(no VHDS, as in Istio). Copying 1000 vhosts into a RouteConfiguration and serializing it whole
was most of a weight change's translation CPU, though all but one vhost are the very objects of
the previous push (``routes.Reuse``). A protobuf message's encoding is its fields' encodings in
field-number order (deterministic serialization), and a repeated message field is each element
as tag, length and bytes; so the table is assembled from each vhost's bytes, serialized once
per vhost object and cached with it, around the encoding of the rest of the configuration. The
bytes, hence the version, are the ones ``XdsResource.pack`` gives the whole message
(``tests/xds/test_route_encoding.py``).
"""

from __future__ import annotations

import hashlib

from envoy.config.route.v3 import route_components_pb2 as rc
from envoy.config.route.v3 import route_pb2
from google.protobuf import any_pb2

from mainsail.xds.resources import XdsResource
from mainsail.xds.routes import route_configuration
from mainsail.xds.translation_cache import Same, TranslationCache

_TYPE_URL = "type.googleapis.com/" + route_pb2.RouteConfiguration.DESCRIPTOR.full_name
_NAME_FIELD = route_pb2.RouteConfiguration.DESCRIPTOR.fields_by_name["name"].number
_VHOSTS_FIELD = route_pb2.RouteConfiguration.DESCRIPTOR.fields_by_name["virtual_hosts"].number
_LENGTH_DELIMITED = 2
_VHOST_TAG = bytes([_VHOSTS_FIELD << 3 | _LENGTH_DELIMITED])
# Only ``name`` precedes ``virtual_hosts``: the rest of the configuration follows them.
_VHOSTS_SECOND = all(
    f.number in (_NAME_FIELD, _VHOSTS_FIELD) or f.number > _VHOSTS_FIELD
    for f in route_pb2.RouteConfiguration.DESCRIPTOR.fields
)


def packed_route_configuration(
    name: str, vhosts: list[rc.VirtualHost], cache: TranslationCache
) -> XdsResource:
    """``XdsResource.pack(name, route_configuration(name, vhosts))``, from cached vhost bytes."""
    assert _VHOSTS_SECOND and _NAME_FIELD < _VHOSTS_FIELD
    frame = route_configuration(name, []).SerializeToString(deterministic=True)
    head = len(_varint(_NAME_FIELD << 3 | _LENGTH_DELIMITED)) if name else 0
    if name:
        encoded_name = name.encode("utf-8")
        head += len(_varint(len(encoded_name))) + len(encoded_name)
    parts = [frame[:head]]
    for vhost in vhosts:
        body = cache.get(
            ("vhost bytes", Same(vhost)),
            lambda vhost=vhost: vhost.SerializeToString(deterministic=True),  # type: ignore[misc]
        )
        parts += (_VHOST_TAG, _varint(len(body)), body)
    parts.append(frame[head:])
    value = b"".join(parts)
    # What ``XdsResource.pack`` computes from the same bytes.
    return XdsResource(
        name=name,
        version=hashlib.blake2b(value, digest_size=10).hexdigest(),
        body=any_pb2.Any(type_url=_TYPE_URL, value=value),
    )


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        low = value & 0x7F
        value >>= 7
        if value:
            out.append(low | 0x80)
        else:
            out.append(low)
            return bytes(out)
