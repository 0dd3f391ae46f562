"""The book's security chapter, enforced: every example of samples/book/security/ applied as
given (the ``authentication.istio.io``/``rbac.istio.io`` v1alpha1 YAML, which the control plane
converts by Istio's migration rules) to a mesh with the workloads the book names
(``book_mesh.yaml`` and the book's Services), and what the book says each does asserted with
real traffic through real Envoys over real mTLS.

Callers: ``plain`` is the test process straight to a pod's port (no sidecar: a client without
a certificate, like the book's "clients [that] don't already have certificates"); ``sleep``
(default, no role), ``bar`` (default/bar) and ``bar.bar`` (namespace bar, the identity the
book's ServiceRoleBinding names) send through their own sidecar. An outcome is ``200``, ``401``,
``403 <Envoy's body>`` or ``refused`` (the connection closed without an HTTP answer).

Every expectation is a whole matrix waited for until it holds at once (a client sidecar's
pooled connection keeps the server's previous filter chain until it drains, as with Istio).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from mainsail.api.client import ApiClient
from mainsail.platform.pod import PodSpec
from mainsail.testing.jwt_issuer import JwksServer, JwtIssuer
from mainsail.testing.mesh import LocalMesh
from mainsail.testing.waiting import wait_for, wait_for_sync
from tests.e2e_security.helpers import XFCC, plain_get

ROOT = Path(__file__).resolve().parents[2]
BOOK = ROOT / "samples" / "book" / "security"
MESH = Path(__file__).with_name("book_mesh.yaml")
# Every kind an example may bring in (legacy) or a test may add; all removed after each test.
SECURITY_KINDS = (
    "Policy",
    "MeshPolicy",
    "RbacConfig",
    "ClusterRbacConfig",
    "ServiceRole",
    "ServiceRoleBinding",
    "PeerAuthentication",
    "RequestAuthentication",
    "AuthorizationPolicy",
)
OK = "200"
REFUSED = "refused"
DENIED = "403 RBAC: access denied"
UNAUTHENTICATED = "401"
GOOGLE_ISSUER = "https://securetoken.google.com"
GOOGLE_JWKS = "https://www.googleapis.com/oauth2/v1/certs"
TOKEN_HEADER = "x-goog-iap-jwt-assertion"


@dataclass(frozen=True, slots=True)
class Target:
    host: str
    port: int  # the Service port (through the mesh)
    pod: tuple[str, str]  # (deployment, namespace) of the pod behind it
    target_port: int  # the pod's port (straight to it)


TARGETS = {
    "foo": Target("foo.default.svc.cluster.local", 80, ("foo", "default"), 8080),
    "bar": Target("bar.default.svc.cluster.local", 80, ("bar", "default"), 8080),
    "bar:81": Target("bar.default.svc.cluster.local", 81, ("bar", "default"), 9081),
    "bar.bar": Target("bar.bar.svc.cluster.local", 80, ("bar", "bar"), 8080),
    "baz.bar": Target("baz.bar.svc.cluster.local", 80, ("baz", "bar"), 8080),
}
CLIENTS = {"sleep": ("sleep", "default"), "bar": ("bar", "default"), "bar.bar": ("bar", "bar")}


@dataclass(frozen=True, slots=True)
class Call:
    source: str  # "plain" or a key of CLIENTS
    target: str  # a key of TARGETS
    method: str = "GET"
    headers: tuple[tuple[str, str], ...] = ()


def everyone_to(targets: tuple[str, ...], outcome: str) -> dict[Call, str]:
    return {Call(source, target): outcome for source in CLIENTS for target in targets}


def example(name: str) -> str:
    return (BOOK / name).read_text(encoding="utf-8")


@dataclass(slots=True)
class BookMesh:
    mesh: LocalMesh
    api: ApiClient
    baseline: dict[str, Any] = field(default_factory=dict)
    http: aiohttp.ClientSession | None = None
    last: dict[Call, str] = field(default_factory=dict)

    @classmethod
    def attach(cls, mesh: LocalMesh) -> BookMesh:
        info = mesh.home.read_json(mesh.home.control_plane_file) or {}
        book = cls(mesh=mesh, api=ApiClient(str(info["api"])))
        book.baseline = book.sidecar_state()
        return book

    def pod(self, name: str, namespace: str) -> PodSpec:
        found = [
            p
            for p in self.mesh.pods()
            if p.namespace == namespace and p.name.startswith(f"{name}-")
        ]
        assert len(found) == 1, f"{len(found)} pods of {namespace}/{name}"
        return found[0]

    def sidecar_state(self) -> dict[str, Any]:
        """Every pod's listeners as its Envoy holds them (without push versions)."""
        state = {}
        for pod in self.mesh.pods():
            dump = self.mesh.admin(pod, "/config_dump?resource=dynamic_listeners")
            state[pod.key] = sorted(
                json.dumps(item.get("active_state", {}).get("listener", {}), sort_keys=True)
                for item in dump["configs"]
            )
        return state

    # --- config
    async def apply(self, text: str) -> None:
        await asyncio.to_thread(self.api.apply, text, "book")

    async def reset(self) -> None:
        listed = await asyncio.to_thread(self.api.list_config)
        keys = [
            (item["kind"], item["metadata"].get("namespace", ""), item["metadata"]["name"])
            for item in listed["items"]
            if item["kind"] in SECURITY_KINDS
        ]
        if keys:
            await asyncio.to_thread(self.api.delete_keys, keys)
        await wait_for(
            lambda: self.sidecar_state() == self.baseline,
            timeout=30,
            interval=0.2,
            message="every sidecar back to its configuration without policies",
        )

    # --- traffic
    async def call(self, call: Call) -> tuple[str, dict[str, Any]]:
        """The outcome of one request, and the echo app's reply (empty when Envoy answered)."""
        target = TARGETS[call.target]
        if call.source == "plain":
            pod = self.pod(*target.pod)
            try:
                reply = await plain_get((pod.ip, target.target_port))
            except (TimeoutError, aiohttp.ClientConnectionError, ConnectionError):
                return REFUSED, {}
            status, body = reply.status, reply.body
        else:
            client = self.pod(*CLIENTS[call.source])
            assert self.http is not None
            async with self.http.request(
                call.method,
                f"http://{target.host}:{target.port}/",
                proxy=f"http://{client.ip}:{client.proxy_ports.outbound}",
                headers=dict(call.headers),
                allow_redirects=False,
            ) as response:
                status, body = response.status, await response.text()
        if status == 200:
            return OK, json.loads(body)
        return (f"403 {body}" if status == 403 else str(status)), {}

    async def expect(self, matrix: Mapping[Call, str], timeout: float = 30) -> None:
        """Until every call of ``matrix`` has its outcome, in one round."""

        async def holds() -> bool:
            outcomes = await asyncio.gather(*(self.call(c) for c in matrix))
            self.last = {c: outcome for c, (outcome, _) in zip(matrix, outcomes, strict=True)}
            return self.last == dict(matrix)

        try:
            await wait_for(holds, timeout=timeout, interval=0.3)
        except TimeoutError:
            wrong = {c: (self.last.get(c), want) for c, want in matrix.items()}
            wrong = {c: pair for c, pair in wrong.items() if pair[0] != pair[1]}
            raise AssertionError(f"(got, want) after {timeout}s: {wrong}") from None


@pytest.fixture(scope="module")
def book_mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalMesh]:
    with LocalMesh([MESH, BOOK / "services.yaml"], tmp_path_factory.mktemp("book")) as mesh:
        yield mesh


@pytest.fixture(scope="module")
def book_baseline(book_mesh: LocalMesh) -> BookMesh:
    book = BookMesh.attach(book_mesh)

    def settled() -> bool:
        # The baseline is taken once the first pushes are done: two looks alike.
        before, book.baseline = book.baseline, book.sidecar_state()
        return before == book.baseline

    wait_for_sync(settled, timeout=30, interval=0.5, message="the sidecars' listeners settle")
    return book


@pytest.fixture
async def book(book_baseline: BookMesh) -> AsyncIterator[BookMesh]:
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(timeout=timeout) as http:
        book_baseline.http = http
        try:
            yield book_baseline
        finally:
            book_baseline.http = None
    await book_baseline.reset()


ALL_TARGETS = tuple(TARGETS)


def plain_to(targets: tuple[str, ...], outcome: str) -> dict[Call, str]:
    return {Call("plain", target): outcome for target in targets}


async def test_without_policies_everyone_reaches_everything(book: BookMesh) -> None:
    await book.expect(everyone_to(ALL_TARGETS, OK) | plain_to(ALL_TARGETS, OK))


# --- authentication policy: mutual TLS


@pytest.mark.parametrize(
    "name", ["01-policy-foo-require-mtls.yaml", "02-policy-foo-require-mtls-default-mode.yaml"]
)
async def test_policy_requires_mtls_for_foo(book: BookMesh, name: str) -> None:
    """ "This Policy ... marks TLS as required for talking to service foo" (02: the same with
    the redundant fields omitted, STRICT being the default mode): a client without a
    certificate is refused, mesh clients (mTLS from their sidecars) get through; bar is not
    concerned."""
    await book.apply(example(name))
    await book.expect(
        everyone_to(ALL_TARGETS, OK)
        | plain_to(("foo",), REFUSED)
        | plain_to(("bar", "bar:81", "bar.bar", "baz.bar"), OK)
    )
    _, reply = await book.call(Call("sleep", "foo"))
    assert "spiffe://cluster.local/ns/default/sa/sleep" in reply["headers"][XFCC]


MESH_STRICT = "08-meshpolicy-mtls.yaml"


async def test_meshpolicy_requires_mtls_everywhere(book: BookMesh) -> None:
    """ "we can make mTLS required across the mesh ... by omitting the mTLS object entirely":
    every service of every namespace refuses a client without a certificate."""
    await book.apply(example(MESH_STRICT))
    await book.expect(everyone_to(ALL_TARGETS, OK) | plain_to(ALL_TARGETS, REFUSED))


async def test_policy_makes_mtls_optional_for_bar(book: BookMesh) -> None:
    """ "allows clients to contact the bar service using both mTLS and clear text", shown
    against the mesh-wide STRICT policy it relaxes (alone it would change nothing: without
    any policy everything is PERMISSIVE)."""
    await book.apply(example(MESH_STRICT))
    await book.expect(plain_to(("bar",), REFUSED))
    await book.apply(example("03-policy-bar-optional-mtls.yaml"))
    await book.expect(
        everyone_to(ALL_TARGETS, OK)
        | plain_to(("bar", "bar:81"), OK)
        | plain_to(("foo", "bar.bar", "baz.bar"), REFUSED)
    )
    _, reply = await book.call(Call("sleep", "bar"))
    assert XFCC in reply["headers"]  # mesh clients still use mTLS (auto mTLS)


async def test_policy_makes_mtls_optional_for_the_namespace(book: BookMesh) -> None:
    """ "allows workloads in the mesh to contact any service in the default namespace using
    either mTLS or clear text"; namespace bar keeps the mesh's STRICT."""
    await book.apply(example(MESH_STRICT))
    await book.expect(plain_to(("foo",), REFUSED))
    await book.apply(example("04-policy-namespace-optional-mtls.yaml"))
    await book.expect(
        everyone_to(ALL_TARGETS, OK)
        | plain_to(("foo", "bar", "bar:81"), OK)
        | plain_to(("bar.bar", "baz.bar"), REFUSED)
    )


async def test_meshpolicy_makes_mtls_optional_everywhere(book: BookMesh) -> None:
    """ "PERMISSIVE mTLS across the mesh": every service takes both; a service-level policy
    (01, foo STRICT) still wins over the mesh's for its service."""
    await book.apply(example("07-meshpolicy-optional-mtls.yaml"))
    await book.apply(example("01-policy-foo-require-mtls.yaml"))
    await book.expect(
        everyone_to(ALL_TARGETS, OK)
        | plain_to(("foo",), REFUSED)
        | plain_to(("bar", "bar:81", "bar.bar", "baz.bar"), OK)
    )


async def test_health_check_port_excluded_from_mtls(book: BookMesh) -> None:
    """ "By writing two Policy objects, we can exclude the health check port from mTLS, while
    requiring it for all others". The book gives both objects the same name, so applying the
    second replaces the first (as Kubernetes would): 05 alone requires mTLS on both of bar's
    ports; 06 then leaves only the port-81 PERMISSIVE exception, and bar's other port falls
    back to what the namespace/mesh says. With the mesh STRICT (08) that is exactly the
    book's intent: port 80 requires mTLS, the health-check port 81 also takes clear text."""
    await book.apply(example("05-policy-bar-require-mtls.yaml"))
    await book.expect(
        everyone_to(ALL_TARGETS, OK)
        | plain_to(("bar", "bar:81"), REFUSED)
        | plain_to(("foo", "bar.bar", "baz.bar"), OK)
    )
    await book.apply(example(MESH_STRICT))
    await book.apply(example("06-policy-bar-port-81-permissive.yaml"))
    await book.expect(
        everyone_to(ALL_TARGETS, OK)
        | plain_to(("bar:81",), OK)
        | plain_to(("foo", "bar", "bar.bar", "baz.bar"), REFUSED)
    )


# --- end-user authentication


def end_user_auth(jwks_uri: str = GOOGLE_JWKS) -> str:
    """Example 09 as given; with another ``jwksUri`` for the test's own key set (this machine
    cannot reach Google's keys, nor mint tokens Google's keys verify)."""
    text = example("09-policy-end-user-auth.yaml")
    assert f'jwksUri: "{GOOGLE_JWKS}"' in text
    return text.replace(GOOGLE_JWKS, jwks_uri)


def with_token(source: str, target: str, token: str, header: str = TOKEN_HEADER) -> Call:
    return Call(source, target, headers=((header, token),))


async def test_end_user_auth_as_given(book: BookMesh) -> None:
    """Example 09 exactly as printed: bar requires mTLS and a Google-issued JWT in
    ``x-goog-iap-jwt-assertion``. The book's alpha API answered a request without a token with
    401; after Istio's migration (RequestAuthentication + a DENY policy on
    ``notRequestPrincipals: ["*"]``) it is 403 "RBAC: access denied". Google's key set cannot
    be fetched here, so, as istiod does with keys it could not fetch, every token is rejected
    (401). foo is not concerned."""
    await book.apply(end_user_auth())
    some_token = JwtIssuer(issuer=GOOGLE_ISSUER).token("alice", audience="bar")
    await book.expect(
        {
            Call("sleep", "bar"): DENIED,
            Call("bar.bar", "bar"): DENIED,
            with_token("sleep", "bar", some_token): UNAUTHENTICATED,
            Call("plain", "bar"): REFUSED,  # the policy's `peers: [mtls: {}]`: STRICT
            Call("sleep", "foo"): OK,
            Call("plain", "foo"): OK,
        }
    )


@pytest.fixture
async def google() -> AsyncIterator[JwksServer]:
    """A key set for the book's issuer name, served by the test."""
    server = await JwksServer(JwtIssuer(issuer=GOOGLE_ISSUER)).start()
    try:
        yield server
    finally:
        await server.stop()


async def test_end_user_auth_with_reachable_keys(book: BookMesh, google: JwksServer) -> None:
    """Example 09 with only ``jwksUri`` pointing at keys the test holds: a valid token for the
    audience "bar" in the book's header passes (and is forwarded, `forwardOriginalToken`);
    an expired or forged one is 401; one for another audience is Envoy's 403; a token in
    another header is not looked at: no token, 403."""
    await book.apply(end_user_auth(google.jwks_uri))
    issuer = google.issuer
    valid = issuer.token("alice", audience="bar")
    forged = JwtIssuer(issuer=GOOGLE_ISSUER, kid=issuer.kid).token("alice", audience="bar")
    await book.expect(
        {
            with_token("sleep", "bar", valid): OK,
            with_token("bar.bar", "bar", valid): OK,
            Call("sleep", "bar"): DENIED,
            with_token("sleep", "bar", issuer.token("a", audience="bar", expires_in=-60)): (
                UNAUTHENTICATED
            ),
            with_token("sleep", "bar", forged): UNAUTHENTICATED,
            with_token("sleep", "bar", issuer.token("a", audience="foo")): (
                "403 Audiences in Jwt are not allowed"
            ),
            with_token("sleep", "bar", valid, header="authorization"): DENIED,
        }
    )
    _, reply = await book.call(with_token("sleep", "bar", valid))
    assert reply["headers"][TOKEN_HEADER] == valid


# --- authorization (RBAC)


async def test_rbacconfig_on_denies_everything(book: BookMesh) -> None:
    """ "RBAC policies are required for communication and communication not allowed by a
    policy is forbidden": with no ServiceRole, every request to every service is 403."""
    await book.apply(example("10-rbacconfig-on.yaml"))
    await book.expect(everyone_to(ALL_TARGETS, DENIED) | plain_to(("foo", "baz.bar"), DENIED))


async def test_servicerole_binding_lets_bar_read_foo(book: BookMesh) -> None:
    """RBAC on, then the book's ServiceRole (GET on foo) bound to `cluster.local/ns/bar/sa/bar`:
    "allowing it to call the foo service" - the bar service account of namespace bar may GET
    foo; not POST, not any other identity (default/bar has the same service account name in
    another namespace), not without a certificate; everything else stays denied."""
    await book.apply(example("10-rbacconfig-on.yaml"))
    await book.expect({Call("bar.bar", "foo"): DENIED})
    await book.apply(
        example("12-servicerole-foo-viewer.yaml")
        + "\n---\n"
        + example("13-servicerolebinding-bar-foo-viewer.yaml")
    )
    await book.expect(
        everyone_to(ALL_TARGETS, DENIED)
        | {
            Call("bar.bar", "foo"): OK,
            Call("bar.bar", "foo", method="POST"): DENIED,
            Call("plain", "foo"): DENIED,
        }
    )


async def test_rbacconfig_on_with_inclusion(book: BookMesh) -> None:
    """ "requires RBAC policies to communicate with any service in the default namespace, and
    for the bar service in the [bar] namespace. No other communication requires a policy":
    foo and bar (default) and bar.bar are denied, baz (namespace bar, not included) open."""
    await book.apply(example("11-rbacconfig-inclusion.yaml"))
    await book.expect(
        everyone_to(("foo", "bar", "bar:81", "bar.bar"), DENIED)
        | everyone_to(("baz.bar",), OK)
        | plain_to(("baz.bar",), OK)
    )
