"""One mesh (``mesh.yaml``) shared by the security tests (mutual TLS here; authorization and JWT
tests add their own files to this package): a ``server`` with two HTTP ports and an idle
``client``, in a mesh that also trusts the trust domain ``old.example``.

Fixtures: ``security_mesh`` (the running mesh, package scope), ``secured`` (per test: a
``SecuredMesh`` whose security policies are removed after the test, and the next test starts
once the server's and client's sidecars hold their original configuration again).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from mainsail.testing.mesh import LocalMesh
from tests.e2e_security.helpers import SecuredMesh

MESH = Path(__file__).with_name("mesh.yaml")
# Authorization/JWT workloads (tcp-echo, a second namespace, the ingress gateway).
AUTHZ = Path(__file__).with_name("authz.yaml")
TRUST_DOMAIN_ALIAS = "old.example"
EXT_AUTHZ_PROVIDER = {
    "name": "sample-ext-authz-http",
    "envoyExtAuthzHttp": {
        "service": "ext-authz.default.svc.cluster.local",
        "port": 8000,
        "includeRequestHeadersInCheck": ["x-ext-authz"],
        "headersToDownstreamOnDeny": ["x-ext-authz-check-result"],
    },
}


@pytest.fixture(scope="package")
def security_mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalMesh]:
    mesh_config = {
        "trustDomainAliases": [TRUST_DOMAIN_ALIAS],
        # AuthorizationPolicy CUSTOM (test_policy_authorization): Istio's ext-authz sample.
        "extensionProviders": [EXT_AUTHZ_PROVIDER],
    }
    with LocalMesh(
        [MESH, AUTHZ], tmp_path_factory.mktemp("security"), mesh_config=mesh_config
    ) as mesh:
        yield mesh


@pytest.fixture(scope="package")
def secured_baseline(security_mesh: LocalMesh) -> SecuredMesh:
    return SecuredMesh.attach(security_mesh)


@pytest.fixture
async def secured(secured_baseline: SecuredMesh) -> AsyncIterator[SecuredMesh]:
    async with secured_baseline.traffic.session():
        yield secured_baseline
    await secured_baseline.remove_policies()
