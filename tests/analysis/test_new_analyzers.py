"""The analyzers added for istioctl parity: gateways, annotations, sidecar selectors, port
selectors, ingress subsets and authorization policies — each message as istioctl prints it."""

from __future__ import annotations

from tests.analysis.helpers import codes, lines, messages

GATEWAY = """
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {{name: {name}}}
spec:
  selector: {{istio: ingressgateway}}
  servers:
  - port: {{number: {port}, name: http, protocol: HTTP}}
    hosts: [{hosts}]
"""


def gateway(name: str, hosts: str, port: int = 80) -> str:
    return GATEWAY.format(name=name, hosts=hosts, port=port)


def test_gateways_on_the_same_port_and_hosts_conflict() -> None:
    text = gateway("a", '"*.example.com"') + "---" + gateway("b", "shop.example.com")
    assert lines(text) == [
        "Error [IST0145] (Gateway default/a) Conflict with gateways default/b (workload selector "
        "istio=ingressgateway, port 80, hosts *.example.com).",
        "Error [IST0145] (Gateway default/b) Conflict with gateways default/a (workload selector "
        "istio=ingressgateway, port 80, hosts shop.example.com).",
    ]


def test_gateways_on_other_ports_or_hosts_do_not_conflict() -> None:
    text = gateway("a", "a.example.com") + "---" + gateway("b", "b.example.com")
    text += "---" + gateway("c", "a.example.com", port=8080)
    assert "IST0145" not in codes(text)


SERVICE = """
apiVersion: v1
kind: Service
metadata:
  name: web
  annotations:
    {annotation}: "x"
spec:
  selector: {{app: web}}
  ports: [{{name: http, port: 80}}]
"""


def test_unknown_istio_annotations() -> None:
    text = SERVICE.format(annotation="networking.istio.io/exportToo")
    assert lines(text) == [
        "Warning [IST0108] (Service default/web) Unknown annotation: networking.istio.io/exportToo"
    ]


def test_misplaced_and_deprecated_annotations() -> None:
    assert lines(SERVICE.format(annotation="sidecar.istio.io/proxyCPU")) == [
        "Warning [IST0107] (Service default/web) Misplaced annotation: sidecar.istio.io/proxyCPU "
        "can only be applied to Pod"
    ]
    assert lines(SERVICE.format(annotation="sidecar.istio.io/inject")) == [
        "Warning [IST0107] (Service default/web) Misplaced annotation: sidecar.istio.io/inject "
        "can only be applied to Pod",
        'Info [IST0135] (Service default/web) Annotation "sidecar.istio.io/inject" has been '
        'deprecated in favor of the "sidecar.istio.io/inject" label and may not work in future '
        "Istio versions.",
    ]


def test_other_annotations_and_well_placed_ones_are_fine() -> None:
    assert codes(SERVICE.format(annotation="example.com/owner")) == []
    assert codes(SERVICE.format(annotation="networking.istio.io/exportTo")) == []


def test_annotation_messages_name_the_annotation_line() -> None:
    [found] = messages(SERVICE.format(annotation="foo.istio.io/bar"), with_mesh=False)
    assert found.reference == "test.yaml:7"


SIDECAR = """
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {{name: {name}}}
spec:
{selector}  egress: [{{hosts: ["./*"]}}]
"""


def sidecar(name: str, labels: str = "") -> str:
    selector = f"  workloadSelector: {{labels: {{{labels}}}}}\n" if labels else ""
    return SIDECAR.format(name=name, selector=selector)


def test_sidecar_selecting_nothing() -> None:
    assert lines(sidecar("s", "app: ratings")) == [
        'Error [IST0101] (Sidecar default/s) Referenced selector not found: "app=ratings"'
    ]


def test_sidecars_selecting_the_same_workload() -> None:
    text = sidecar("a", "app: reviews") + "---" + sidecar("b", "version: v1")
    assert lines(text) == [
        'Error [IST0110] (Sidecar default/a) The Sidecars [a b] in namespace "default" select '
        'the same workload pod "reviews-v1", which can lead to undefined behavior.',
        'Error [IST0110] (Sidecar default/b) The Sidecars [a b] in namespace "default" select '
        'the same workload pod "reviews-v1", which can lead to undefined behavior.',
    ]


def test_two_sidecars_without_selector_in_a_namespace() -> None:
    assert codes(sidecar("a") + "---" + sidecar("b")) == ["IST0111", "IST0111"]
    assert lines(sidecar("a") + "---" + sidecar("b"))[0] == (
        'Error [IST0111] (Sidecar default/a) The Sidecars [a b] in namespace "default" have no '
        "workload selector, which can lead to undefined behavior."
    )


TWO_PORTS = """
apiVersion: v1
kind: Service
metadata: {name: multi}
spec:
  selector: {app: reviews}
  ports: [{name: http, port: 9080}, {name: http-admin, port: 9090}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: multi}
spec:
  hosts: [multi]
  http:
  - route:
    - destination: {host: multi}
"""


def test_destination_to_a_multi_port_service_needs_a_port() -> None:
    assert lines(TWO_PORTS) == [
        "Error [IST0112] (VirtualService default/multi) This VirtualService routes to a service "
        '"multi" that exposes multiple ports [9080 9090]. Specifying a port in the destination '
        "is required to disambiguate."
    ]
    with_port = TWO_PORTS.replace("{host: multi}", "{host: multi, port: {number: 9080}}")
    assert codes(with_port) == []


INGRESS_SUBSETS = """
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: edge}
spec:
  hosts: [shop.example.com]
  gateways: [gw]
  http:
  - route: [{destination: {host: reviews}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews]
  http:
  - route: [{destination: {host: reviews, subset: v1}}]
"""


def test_gateway_route_without_subset_to_a_host_routed_by_subset() -> None:
    found = [line for line in lines(INGRESS_SUBSETS) if "IST0140" in line]
    assert found == [
        "Warning [IST0140] (VirtualService default/edge) Subset in virtual service "
        "default/reviews has no effect on ingress gateway default/edge requests"
    ]


POLICY = """
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {{name: p, namespace: {namespace}}}
spec:
{selector}  rules:
  - from:
    - source: {{namespaces: ["default", "prod*", "nowhere"], notNamespaces: ["*-test"]}}
"""


def policy(namespace: str = "default", labels: str = "") -> str:
    selector = f"  selector: {{matchLabels: {{{labels}}}}}\n" if labels else ""
    return POLICY.format(namespace=namespace, selector=selector)


def test_authorization_policy_namespaces_must_exist() -> None:
    assert lines(policy(labels="app: reviews")) == [
        'Error [IST0101] (AuthorizationPolicy default/p) Referenced namespace not found: "prod*"',
        'Error [IST0101] (AuthorizationPolicy default/p) Referenced namespace not found: "nowhere"',
        'Error [IST0101] (AuthorizationPolicy default/p) Referenced namespace not found: "*-test"',
    ]


def test_authorization_policy_selecting_no_workload() -> None:
    found = [line for line in lines(policy(labels="app: ratings")) if "IST0127" in line]
    assert found == [
        "Warning [IST0127] (AuthorizationPolicy default/p) No matching workloads for this "
        "resource with the following labels: app=ratings"
    ]
    # A namespace-wide policy needs a workload in its namespace; the root namespace's applies
    # mesh-wide and is not checked without a selector.
    assert "IST0127" in codes(policy(namespace="empty"))
    assert "IST0127" not in codes(policy(namespace="istio-system"))
    assert "IST0127" not in codes(policy(namespace="istio-system", labels="app: reviews"))


def test_sidecar_fields_the_local_platform_cannot_apply_are_explained() -> None:
    text = """
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: s}
spec:
  ingress:
  - port: {number: 7070, protocol: HTTP, name: http}
    captureMode: IPTABLES
    defaultEndpoint: unix:///var/run/app.sock
  egress:
  - bind: 127.0.0.2
    captureMode: NONE
    hosts: ["./*"]
"""
    assert lines(text) == [
        "Info [MSA0004] (Sidecar default/s) Sidecar field spec.ingress[0].captureMode (IPTABLES) "
        "is accepted but has no effect on the local platform: nothing is captured, every "
        "listener binds the pod address.",
        "Info [MSA0004] (Sidecar default/s) Sidecar field spec.egress[0].bind (127.0.0.2) is "
        "accepted but has no effect on the local platform: nothing is captured, every listener "
        "binds the pod address.",
        "Info [MSA0004] (Sidecar default/s) Sidecar field spec.ingress[0].defaultEndpoint "
        "(unix:///var/run/app.sock) is accepted but has no effect on the local platform: the app "
        "is reached on the pod address, not on a Unix socket.",
    ]


TLS_RULE = """
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: api}
spec:
  host: reviews
  trafficPolicy:
    tls: {mode: SIMPLE}
    portLevelSettings:
    - port: {number: 9080}
      tls: {mode: MUTUAL, clientCertificate: /c.pem, privateKey: /k.pem}
    - port: {number: 9443}
      tls: {mode: SIMPLE, caCertificates: /ca.pem}
"""


def test_tls_origination_without_a_ca_certificate() -> None:
    assert lines(TLS_RULE) == [
        "Warning [IST0128] (DestinationRule default/api) DestinationRule default/api in namespace "
        "default has TLS mode set to SIMPLE but no caCertificates are set to validate server "
        "identity for host: reviews",
        "Warning [IST0129] (DestinationRule default/api) DestinationRule default/api in namespace "
        "default has TLS mode set to MUTUAL but no caCertificates are set to validate server "
        "identity for host: reviews at port number:9080",
    ]


SERVICE_ENTRY = """
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: db}}
spec:
  hosts: [db.example.com]
{addresses}  ports: [{{number: 5432, name: pg}}, {{number: 443, name: https, protocol: HTTPS}}]
  resolution: DNS
"""


def test_tcp_service_entries_need_addresses() -> None:
    assert lines(SERVICE_ENTRY.format(addresses="")) == [
        "Warning [IST0134] (ServiceEntry default/db) ServiceEntry addresses are required for this "
        "protocol."
    ]
    assert codes(SERVICE_ENTRY.format(addresses="  addresses: [240.0.0.9]\n")) == []


SERVICES_OF_REVIEWS = """
apiVersion: v1
kind: Service
metadata: {name: reviews-udp}
spec:
  selector: {app: reviews}
  ports: [{name: udp-dns, port: 9080, protocol: UDP}]
---
apiVersion: v1
kind: Service
metadata: {name: reviews-alt}
spec:
  selector: {app: reviews}
  ports: [{name: http-alt, port: 9081, targetPort: 9080}]
"""


def test_services_of_one_deployment_that_disagree_on_a_port() -> None:
    # IST0137 names one Service per port number, the last one seen (Istio's map assignment):
    # reviews-udp replaced reviews for 9080.
    assert lines(SERVICES_OF_REVIEWS) == [
        "Warning [IST0116] (Deployment default/reviews-v1) This deployment reviews-v1 is "
        "associated with multiple services using port 9080 but different protocols: "
        "[default/reviews default/reviews-udp]",
        "Warning [IST0137] (Deployment default/reviews-v1) This deployment reviews-v1 is "
        "associated with multiple services [default/reviews-alt default/reviews-udp] using "
        'targetPort "9080" but different ports: [9080 9081].',
    ]


TLS_GATEWAY = """
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {{name: {name}}}
spec:
  selector: {selector}
  servers:
  - port: {{number: 443, name: https, protocol: HTTPS}}
    hosts: [{host}]
    tls: {{mode: SIMPLE, credentialName: {credential}}}
"""


def tls_gateway(name: str, host: str, credential: str, selector: str) -> str:
    return TLS_GATEWAY.format(name=name, host=host, credential=credential, selector=selector)


def test_one_certificate_on_several_gateways() -> None:
    text = tls_gateway("a", "a.example.com", "shop-cert", "{istio: ingressgateway}") + "---"
    text += tls_gateway("b", "b.example.com", "shop-cert", "{istio: ingressgateway, x: y}")
    found = [line for line in lines(text) if "IST0138" in line]
    # a's selector is included in b's: a is reported; b's is not included in a's.
    assert found == [
        "Warning [IST0138] (Gateway default/a) Duplicate certificate in multiple gateways "
        "[default/a default/b] may cause 404s if clients re-use HTTP2 connections."
    ]
    distinct = tls_gateway("a", "a.example.com", "cert-a", "{istio: ingressgateway}") + "---"
    distinct += tls_gateway("b", "b.example.com", "cert-b", "{istio: ingressgateway}")
    assert "IST0138" not in codes(distinct)


def test_deprecated_fields_istioctl_points_out() -> None:
    text = """
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews]
  http:
  - fault: {delay: {fixedDelay: 1s, percent: 10}}
    route: [{destination: {host: reviews}}]
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: s}
spec:
  outboundTrafficPolicy:
    mode: ALLOW_ANY
    egressProxy: {host: reviews.default.svc.cluster.local, port: {number: 9080}}
"""
    assert lines(text) == [
        "Warning [IST0002] (Sidecar default/s) Deprecated: OutboundTrafficPolicy.EgressProxy "
        "ignored",
        "Warning [IST0002] (VirtualService default/reviews) Deprecated: "
        "HTTPRoute.fault.delay.percent is deprecated; use HTTPRoute.fault.delay.percentage",
    ]


CLAIM_ROUTE = """
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw}
spec:
  selector: {istio: ingressgateway}
  servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: ["*"]}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: claims}
spec:
  hosts: ["*"]
  gateways: [gw]
  http:
  - match: [{headers: {"@request.auth.claims.group": {exact: admin}}}]
    route: [{destination: {host: reviews}}]
"""
AUTHN = """
---
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {{name: jwt, namespace: {namespace}}}
spec:
  selector: {{matchLabels: {{istio: ingressgateway}}}}
  jwtRules: [{{issuer: issuer.example, jwksUri: "https://issuer.example/jwks"}}]
"""


def test_claim_routing_on_a_gateway_without_request_authentication() -> None:
    found = [line for line in lines(CLAIM_ROUTE) if "IST0149" in line]
    assert found == [
        "Error [IST0149] (VirtualService default/claims) The virtual service uses the JWT claim "
        "based routing (key: @request.auth.claims.group) but found no request authentication "
        "for the gateway (default/gw) pod (istio-ingressgateway). The request authentication "
        "must first be applied for the gateway pods to validate the JWT token and make the "
        "claims available for routing."
    ]
    # A RequestAuthentication in istio-system (or the pod's namespace) selecting the pod is enough.
    assert "IST0149" not in codes(CLAIM_ROUTE + AUTHN.format(namespace="istio-system"))
    assert "IST0149" in codes(CLAIM_ROUTE + AUTHN.format(namespace="default"))
