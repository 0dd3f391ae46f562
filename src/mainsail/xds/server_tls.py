"""A server-side TLS context from Istio's ``ServerTLSSettings`` (istiod's
``BuildListenerTLSContext`` for TCP transport), used by a Sidecar ``ingress[].tls``: the port
terminates TLS with the user's certificate instead of mesh mTLS (only where the port's
PeerAuthentication mode is DISABLE, as istiod). The same settings shape Gateway servers.

- ``serverCertificate``/``privateKey`` files come over SDS as ``file-cert:<cert>~<key>``
  (``tlsCertificates``: one such secret each), ``credentialName(s)`` as ``kubernetes://<name>``;
  ISTIO_MUTUAL uses the workload certificate ``default``.
- MUTUAL/ISTIO_MUTUAL require a client certificate, OPTIONAL_MUTUAL validates one if presented:
  against ``file-root:<caCertificates>`` (``ROOTCA`` when unset) or the credential's
  ``-cacert``, with ``subjectAltNames`` (exact), ``verifyCertificateSpki``/``Hash`` (credential
  only, as istiod) and ``caCrl``.
- SIMPLE/MUTUAL/OPTIONAL_MUTUAL take ``minProtocolVersion``, ``maxProtocolVersion`` and
  ``cipherSuites``. ALPN ``h2, http/1.1``.

Reads: Sidecar ``ingress[].tls`` (Gateway ``servers[].tls`` have the same shape).
"""

from __future__ import annotations

from envoy.extensions.transport_sockets.tls.v3 import common_pb2, tls_pb2

from mainsail import naming
from mainsail.config.istio.gateway import ServerTLSSettings, TLSProtocol
from mainsail.xds.tls import ALPN_INBOUND_HTTP, san_matchers, sds_secret_config

_PROTOCOLS: dict[TLSProtocol, int] = {
    "TLSV1_0": common_pb2.TlsParameters.TLSv1_0,
    "TLSV1_1": common_pb2.TlsParameters.TLSv1_1,
    "TLSV1_2": common_pb2.TlsParameters.TLSv1_2,
    "TLSV1_3": common_pb2.TlsParameters.TLSv1_3,
}


def server_tls_context(settings: ServerTLSSettings) -> tls_pb2.DownstreamTlsContext:
    mode = settings.mode or "SIMPLE"
    context = tls_pb2.DownstreamTlsContext()
    common = context.common_tls_context  # a reference: what is set on it lands in the context
    common.alpn_protocols.extend(ALPN_INBOUND_HTTP)
    context.require_client_certificate.value = mode in ("MUTUAL", "ISTIO_MUTUAL")
    validate = mode in ("MUTUAL", "ISTIO_MUTUAL", "OPTIONAL_MUTUAL")
    credentials = settings.credential_names or (
        (settings.credential_name,) if settings.credential_name else ()
    )
    if mode != "ISTIO_MUTUAL" and credentials:
        for name in credentials:
            common.tls_certificate_sds_secret_configs.append(
                sds_secret_config(naming.build_credential_secret(name))
            )
        if mode in ("MUTUAL", "OPTIONAL_MUTUAL"):
            combined = common.combined_validation_context
            default = combined.default_validation_context
            default.match_typed_subject_alt_names.extend(san_matchers(settings.subject_alt_names))
            default.verify_certificate_spki.extend(settings.verify_certificate_spki)
            default.verify_certificate_hash.extend(settings.verify_certificate_hash)
            combined.validation_context_sds_secret_config.CopyFrom(
                sds_secret_config(naming.build_credential_secret(credentials[0], ca=True))
            )
        elif settings.subject_alt_names:
            common.validation_context.match_typed_subject_alt_names.extend(
                san_matchers(settings.subject_alt_names)
            )
    else:
        pairs = [
            (c.server_certificate or "", c.private_key or "")
            for c in settings.tls_certificates or ()
        ] or [(settings.server_certificate or "", settings.private_key or "")]
        if mode == "ISTIO_MUTUAL":
            pairs = [("", "")]
        for cert, key in pairs:
            name = naming.build_file_cert_secret(cert, key) if cert and key else ""
            common.tls_certificate_sds_secret_configs.append(
                sds_secret_config(name or naming.WORKLOAD_SECRET)
            )
        if validate:
            ca = "" if mode == "ISTIO_MUTUAL" else settings.ca_certificates or ""
            combined = common.combined_validation_context
            default = combined.default_validation_context
            default.match_typed_subject_alt_names.extend(san_matchers(settings.subject_alt_names))
            if settings.ca_crl:
                default.crl.filename = settings.ca_crl
            combined.validation_context_sds_secret_config.CopyFrom(
                sds_secret_config(
                    naming.build_file_root_secret(ca) if ca else naming.ROOT_CA_SECRET
                )
            )
    if mode in ("SIMPLE", "MUTUAL", "OPTIONAL_MUTUAL"):
        params = common.tls_params
        if settings.min_protocol_version in _PROTOCOLS:
            params.tls_minimum_protocol_version = _PROTOCOLS[settings.min_protocol_version]
        if settings.max_protocol_version in _PROTOCOLS:
            params.tls_maximum_protocol_version = _PROTOCOLS[settings.max_protocol_version]
        params.cipher_suites.extend(settings.cipher_suites)
        if not params.ByteSize():
            common.ClearField("tls_params")
    return context
