import pytest

from tests.config.validation.helpers import findings

SEL = "selector: {istio: ingressgateway}\nservers:\n"
HTTP = "- port: {number: 80, name: http, protocol: HTTP}\n  hosts: ['*']\n"


def https(tls: str, hosts: str = "['*']") -> str:
    return (
        SEL
        + f"- port: {{number: 443, name: https, protocol: HTTPS}}\n  hosts: {hosts}\n  tls: {tls}\n"
    )


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("selector: {istio: ingressgateway}", ("MS-GW-SERVERS", "spec.servers")),
        (
            SEL + "- port: {number: 80, name: http, protocol: HTTP}\n  hosts: []\n",
            ("MS-GW-SERVER-HOSTS", "spec.servers[0].hosts"),
        ),
        (
            SEL + "- port: {number: 80, name: http, protocol: HTTP}\n  hosts: ['*foo.com']\n",
            ("MS-GW-SERVER-HOSTS", "spec.servers[0].hosts[0]"),
        ),
        (
            SEL + "- port: {number: 80, name: http, protocol: HTTP}\n  hosts: ['Bad_NS/foo.com']\n",
            ("MS-GW-SERVER-HOSTS", "spec.servers[0].hosts[0]"),
        ),
        (SEL + HTTP + HTTP.replace("80", "8080"), ("MS-PORT-NAME", "spec.servers[1].port.name")),
        (
            SEL + "- port: {number: 0, name: http, protocol: HTTP}\n  hosts: ['*']\n",
            ("MS-PORT", "spec.servers[0].port.number"),
        ),
        (
            SEL + "- port: {number: 80, name: http, protocol: FTP}\n  hosts: ['*']\n",
            ("MS-PROTOCOL", "spec.servers[0].port.protocol"),
        ),
        (SEL + HTTP + "  bind: not-an-ip\n", ("MS-GW-BIND", "spec.servers[0].bind")),
        (
            SEL + "- port: {number: 443, name: https, protocol: HTTPS}\n  hosts: ['*']\n",
            ("MS-GW-TLS", "spec.servers[0].tls"),
        ),
        (
            SEL + HTTP + "  tls: {mode: SIMPLE, credentialName: c}\n",
            ("MS-GW-TLS", "spec.servers[0].tls"),
        ),
        (https("{mode: SIMPLE}"), ("MS-GW-TLS", "spec.servers[0].tls.serverCertificate")),
        (
            https("{mode: SIMPLE, serverCertificate: /c.pem}"),
            ("MS-GW-TLS", "spec.servers[0].tls.privateKey"),
        ),
        (
            https("{mode: MUTUAL, serverCertificate: /c.pem, privateKey: /k.pem}"),
            ("MS-GW-TLS", "spec.servers[0].tls.caCertificates"),
        ),
        (
            https(
                "{mode: SIMPLE, credentialName: c, serverCertificate: /c.pem, privateKey: /k.pem}"
            ),
            ("MS-GW-TLS", "spec.servers[0].tls"),
        ),
        (
            https("{mode: SIMPLE, credentialName: c, credentialNames: [a]}"),
            ("MS-GW-TLS", "spec.servers[0].tls"),
        ),
        (
            https("{mode: ISTIO_MUTUAL, credentialName: c}"),
            ("MS-GW-TLS", "spec.servers[0].tls.credentialName"),
        ),
        (
            https(
                "{mode: SIMPLE, credentialName: c, minProtocolVersion: TLSV1_3, maxProtocolVersion: TLSV1_2}"
            ),
            ("MS-GW-TLS", "spec.servers[0].tls.minProtocolVersion"),
        ),
        ("selector: {'bad key!': x}\nservers:\n" + HTTP, ("MS-LABELS", "spec.selector[bad key!]")),
    ],
)
def test_rule(spec: str, expected: tuple[str, str]) -> None:
    assert expected in findings("Gateway", spec)


@pytest.mark.parametrize(
    "spec",
    [
        SEL + HTTP + "  tls: {httpsRedirect: true}\n",
        https("{mode: ISTIO_MUTUAL}"),
        https("{mode: PASSTHROUGH}", hosts="['ns1/*.example.com', './a.com', '*/b.com']"),
        https("{mode: SIMPLE, tlsCertificates: [{serverCertificate: /c, privateKey: /k}]}"),
        SEL + HTTP + "  bind: 127.0.0.1\n",
    ],
)
def test_accepted(spec: str) -> None:
    assert findings("Gateway", spec) == []
