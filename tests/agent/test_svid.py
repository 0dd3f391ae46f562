"""Keys, CSRs, CA answers and the renewal schedule of an SVID (pure, real X.509)."""

from __future__ import annotations

import random

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from mainsail.agent.errors import SvidError
from mainsail.agent.svid import (
    GRACE_PERIOD_JITTER,
    build_csr,
    generate_key,
    renewal_time,
    split_pem,
    svid_from_response,
)
from mainsail.testing.signer import InMemoryCa

SPIFFE = "spiffe://cluster.local/ns/shop/sa/web"


def test_csr_has_p256_key_empty_subject_and_exactly_one_uri_san() -> None:
    key = generate_key()
    csr = x509.load_pem_x509_csr(build_csr(key, SPIFFE).encode())
    assert csr.is_signature_valid
    public = csr.public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey)
    assert public.curve.name == "secp256r1"
    assert list(csr.subject) == []
    ext = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    assert ext.critical  # an empty subject needs a critical SAN
    assert list(ext.value) == [x509.UniformResourceIdentifier(SPIFFE)]


def test_csr_refuses_a_non_spiffe_identity() -> None:
    with pytest.raises(SvidError, match="not a spiffe"):
        build_csr(generate_key(), "https://example.com")


async def test_response_splits_chain_and_roots_during_root_overlap() -> None:
    ca = InMemoryCa()
    ca.add_root()
    key = generate_key()
    response = await ca.sign(build_csr(key, SPIFFE), 60, "token")
    svid = svid_from_response(response, key=key, spiffe_id=SPIFFE)
    # As istio-agent: the presented chain is the whole answer (leaf, then the roots).
    assert len(svid.chain) == 3 and svid.chain[1:] == svid.roots
    assert len(svid.roots) == 2
    assert svid.roots_pem == ca.roots_pem
    assert svid.serial == ca.issued[-1].serial_number
    assert 59 <= svid.lifetime_s <= 60
    # Roots concatenated in one string (as istiod sends them) split the same way.
    joined = svid_from_response((response[0], "".join(response[1:])), key=key, spiffe_id=SPIFFE)
    assert joined.roots == svid.roots
    assert split_pem(svid.roots_pem) == svid.roots


async def test_response_for_another_key_or_identity_is_refused() -> None:
    ca = InMemoryCa()
    key = generate_key()
    response = await ca.sign(build_csr(key, SPIFFE), 60, "token")
    with pytest.raises(SvidError, match="not for the key of our CSR"):
        svid_from_response(response, key=generate_key(), spiffe_id=SPIFFE)
    with pytest.raises(SvidError, match="URI SANs"):
        svid_from_response(response, key=key, spiffe_id="spiffe://cluster.local/ns/shop/sa/x")
    with pytest.raises(SvidError, match="no self-signed root"):
        svid_from_response(response[:1], key=key, spiffe_id=SPIFFE)
    with pytest.raises(SvidError, match="no certificate"):
        svid_from_response((), key=key, spiffe_id=SPIFFE)


async def test_renewal_at_half_life_within_jitter() -> None:
    ca = InMemoryCa()
    key = generate_key()
    svid = svid_from_response(
        await ca.sign(build_csr(key, SPIFFE), 3600, "t"), key=key, spiffe_id=SPIFFE
    )
    start = svid.not_before.timestamp()
    times = [renewal_time(svid, random.Random(seed)) - start for seed in range(200)]
    low = (0.5 - GRACE_PERIOD_JITTER) * 3600
    high = (0.5 + GRACE_PERIOD_JITTER) * 3600
    assert all(low <= t <= high for t in times)
    assert max(times) - min(times) > 0.01 * 3600  # really jittered


def test_garbage_in_the_answer_is_an_svid_error() -> None:
    broken = "-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n"
    with pytest.raises(SvidError, match="does not parse"):
        svid_from_response((broken, broken), key=generate_key(), spiffe_id=SPIFFE)
