"""core/v1 Secret: parsing (data and stringData), istiod's key names, validation of bad input."""

from __future__ import annotations

import pytest

from mainsail.config.errors import ErrorCode
from mainsail.config.kube.secret import Secret, credential_of
from mainsail.config.parse import parse_documents
from mainsail.config.schema import lookup
from mainsail.config.validation import validate_all
from tests.config.secret_pems import Ca, b64, ca_secret_yaml, tls_secret_yaml

CA = Ca.make("test-ca")
LEAF = CA.issue("web.example.com")
OTHER = CA.issue("other.example.com")


def _parse(text: str) -> Secret:
    parsed = parse_documents(text, "s.yaml")
    assert parsed.errors == (), parsed.errors
    (secret,) = parsed.resources
    assert isinstance(secret, Secret)
    return secret


def _problems(text: str) -> list[tuple[str, str, str]]:
    parsed = parse_documents(text, "s.yaml")
    assert parsed.errors == (), parsed.errors
    return [(e.code.value, e.path, e.reason) for e in validate_all(parsed)]


def test_kind_is_known_by_its_kubectl_names() -> None:
    for word in ("Secret", "secrets", "secret"):
        schema = lookup(word)
        assert schema is not None and schema.kind == "Secret"
        assert schema.api_versions == ("v1",)


def test_tls_secret_gives_the_pair_and_the_ca() -> None:
    secret = _parse(tls_secret_yaml("web", "istio-system", LEAF, CA.pem))
    assert secret.namespace == "istio-system"
    assert _problems(tls_secret_yaml("web", "istio-system", LEAF, CA.pem)) == []
    credential = credential_of(secret)
    assert credential.cert_chain == LEAF.cert_pem
    assert credential.private_key == LEAF.key_pem
    assert credential.ca == CA.pem


def test_generic_keys_win_over_the_tls_ones() -> None:
    # istiod's extractCertInfo tries cert/key before tls.crt/tls.key.
    text = tls_secret_yaml("web", "default", LEAF, generic=True) + (
        f"  tls.crt: {b64(OTHER.cert_pem)}\n  tls.key: {b64(OTHER.key_pem)}\n"
    )
    assert _problems(text) == []
    assert credential_of(_parse(text)).cert_chain == LEAF.cert_pem


def test_string_data_is_plain_text_and_wins_over_data() -> None:
    indented_cert = "\n".join("    " + line for line in LEAF.cert_pem.decode().splitlines())
    indented_key = "\n".join("    " + line for line in LEAF.key_pem.decode().splitlines())
    text = (
        "apiVersion: v1\nkind: Secret\nmetadata: {name: web}\ntype: kubernetes.io/tls\n"
        f"data:\n  tls.crt: {b64(OTHER.cert_pem)}\n  tls.key: {b64(OTHER.key_pem)}\n"
        f"stringData:\n  tls.crt: |\n{indented_cert}\n  tls.key: |\n{indented_key}\n"
    )
    assert _problems(text) == []
    credential = credential_of(_parse(text))
    assert credential.cert_chain == LEAF.cert_pem
    assert credential.private_key == LEAF.key_pem


def test_ca_only_secret_has_no_pair() -> None:
    credential = credential_of(_parse(ca_secret_yaml("web-cacert", "default", CA.pem)))
    assert not credential.has_pair
    assert credential.ca == CA.pem


def test_bad_base64_is_refused_at_its_key() -> None:
    text = (
        "apiVersion: v1\nkind: Secret\nmetadata: {name: web}\ntype: Opaque\n"
        "data:\n  cert: '!!not base64!!'\n"
    )
    ((code, path, reason),) = _problems(text)
    assert (code, path) == (ErrorCode.SECRET.value, "data.cert")
    assert "base64" in reason


def test_a_certificate_that_is_not_pem_is_refused() -> None:
    text = tls_secret_yaml("web", "default", LEAF).replace(
        b64(LEAF.cert_pem), b64(b"hello, not a certificate")
    )
    ((code, path, reason),) = _problems(text)
    assert (code, path) == (ErrorCode.SECRET.value, "data.tls.crt")
    assert "not a PEM certificate" in reason


def test_a_key_that_is_not_pem_is_refused() -> None:
    text = tls_secret_yaml("web", "default", LEAF).replace(b64(LEAF.key_pem), b64(b"nope"))
    ((code, path, reason),) = _problems(text)
    assert (code, path) == (ErrorCode.SECRET.value, "data.tls.key")
    assert "private key" in reason


def test_a_key_of_another_certificate_is_refused() -> None:
    text = tls_secret_yaml("web", "default", LEAF).replace(b64(LEAF.key_pem), b64(OTHER.key_pem))
    ((code, path, reason),) = _problems(text)
    assert (code, path) == (ErrorCode.SECRET.value, "data.tls.key")
    assert "does not match the certificate in 'tls.crt'" in reason
    assert "web.example.com" in reason


def test_a_tls_secret_needs_both_keys() -> None:
    text = (
        "apiVersion: v1\nkind: Secret\nmetadata: {name: web}\ntype: kubernetes.io/tls\n"
        f"data:\n  tls.crt: {b64(LEAF.cert_pem)}\n"
    )
    assert [(c, p) for c, p, _ in _problems(text)] == [(ErrorCode.SECRET.value, "data")]


def test_a_bad_ca_is_refused() -> None:
    text = ca_secret_yaml("web-cacert", "default", b"-----BEGIN CERTIFICATE-----\nxx\n")
    ((code, path, _),) = _problems(text)
    assert (code, path) == (ErrorCode.SECRET.value, "data.ca.crt")


def test_error_names_file_document_and_line() -> None:
    text = "apiVersion: v1\nkind: Service\nmetadata: {name: s}\n---\n" + tls_secret_yaml(
        "web", "default", LEAF
    ).replace(b64(LEAF.key_pem), b64(OTHER.key_pem))
    parsed = parse_documents(text, "s.yaml")
    (error,) = validate_all(parsed)
    shown = str(error)
    assert shown.startswith("s.yaml: document 2 (Secret default/web): data.tls.key: ")
    assert parsed.origins[1].line_of(error.path) == 11


@pytest.mark.parametrize("generic", [False, True])
def test_listing_shows_sizes_not_key_material(generic: bool) -> None:
    secret = _parse(tls_secret_yaml("web", "default", LEAF, CA.pem, generic=generic))
    wire = secret.redacted_wire()
    shown = repr(wire)
    assert b64(LEAF.key_pem) not in shown and "PRIVATE KEY" not in shown
    key = "key" if generic else "tls.key"
    assert wire["data"][key] == f"<{len(LEAF.key_pem)} bytes>"
    # The store keeps the real document.
    assert secret.to_wire()["data"][key] == b64(LEAF.key_pem)
