"""``credentialName`` secrets served over ADS, as istiod's ``SecretGen`` (``pilot/pkg/xds/sds.go``).

A Gateway server's or DestinationRule's ``credentialName: <name>`` becomes the SDS name
``kubernetes://<name>`` (and ``kubernetes://<name>-cacert`` for the CA) with
``sds_config: {ads: {}}`` (``xds.tls.sds_secret_config``), so Envoy asks the control plane on
its ADS stream, not the node agent. What is served, per requested name:

- ``kubernetes://<name>``: the Secret ``<name>``'s certificate chain and key (keys ``cert``/
  ``key``, else ``tls.crt``/``tls.key``) as a ``tls_certificate``;
- ``kubernetes://<name>-cacert``: the roots (``cacert``, else ``ca.crt``) of the Secret
  ``<name>-cacert`` if it exists, else of the Secret ``<name>`` (istiod's ``GetCaCert``), as a
  ``validation_context``.

Who may read: istiod's ``filterAuthorizedResources`` serves a proxy only Secrets of its own
namespace (a cross-namespace reference needs a Gateway API ReferenceGrant, which we do not have),
and only when its service account may read Secrets there (the gateway charts grant their
service account that Role). The local platform has no RBAC, so the namespace is the whole rule.
Whose namespace: istiod serves credentials only to a proxy with a ``VerifiedIdentity`` (a stream
authenticated on its TLS port) and reads the namespace from that identity. Here a stream relayed
from the TLS port reaches generation only once its client certificate's SPIFFE identity matched
the node's namespace and service account (``ads.servicer``, ``ca.xds_peers``), so the node's
namespace *is* the verified one; a stream without an identity there is refused before anything
is generated. On the plaintext port (meant for this machine, as istiod's 15010) the node's own
claim is believed, as for the rest of its xDS: a local process could read the store anyway.
Envoy subscribes to SDS names one by one, so a proxy is only ever sent the names its listeners
and clusters reference; the rest of its namespace's secrets are merely offered.

Reads: the snapshot's Secrets (``MeshSnapshot.credentials``).
"""

from __future__ import annotations

from envoy.config.core.v3 import base_pb2
from envoy.extensions.transport_sockets.tls.v3 import common_pb2, secret_pb2

from mainsail import naming
from mainsail.config.kube.secret import CA_SUFFIX, TlsCredential
from mainsail.snapshot.mesh_snapshot import MeshSnapshot


def may_read(proxy_namespace: str, secret_namespace: str) -> bool:
    """Whether a proxy of ``proxy_namespace`` may be sent a Secret of ``secret_namespace``
    (``proxy_namespace`` is verified by the proxy's certificate on the TLS port, see above)."""
    return proxy_namespace == secret_namespace


def credential_secrets(snapshot: MeshSnapshot, namespace: str) -> list[secret_pb2.Secret]:
    """Every SDS secret a proxy of ``namespace`` may be served, by ``kubernetes://`` name."""
    credentials = snapshot.credentials
    secrets: list[secret_pb2.Secret] = []
    for (secret_namespace, name), credential in sorted(credentials.items()):
        if not may_read(namespace, secret_namespace):
            continue
        if name.endswith(CA_SUFFIX):
            # ``kubernetes://x-cacert`` is always a CA request: the Secret named so wins.
            if credential.ca is not None:
                secrets.append(_ca_secret(naming.build_credential_secret(name), credential))
            continue
        if credential.has_pair:
            secrets.append(_pair_secret(naming.build_credential_secret(name), credential))
        if credential.ca is not None and (namespace, name + CA_SUFFIX) not in credentials:
            secrets.append(_ca_secret(naming.build_credential_secret(name, ca=True), credential))
    return secrets


def _pair_secret(sds_name: str, credential: TlsCredential) -> secret_pb2.Secret:
    return secret_pb2.Secret(
        name=sds_name,
        tls_certificate=common_pb2.TlsCertificate(
            certificate_chain=base_pb2.DataSource(inline_bytes=credential.cert_chain),
            private_key=base_pb2.DataSource(inline_bytes=credential.private_key),
        ),
    )


def _ca_secret(sds_name: str, credential: TlsCredential) -> secret_pb2.Secret:
    return secret_pb2.Secret(
        name=sds_name,
        validation_context=common_pb2.CertificateValidationContext(
            trusted_ca=base_pb2.DataSource(inline_bytes=credential.ca)
        ),
    )
