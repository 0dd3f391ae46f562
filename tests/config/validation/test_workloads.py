import pytest

from tests.config.validation.helpers import findings


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("labels: {app: x}", ("MS-WE-ADDRESS", "spec")),
        ("address: 'bad address!'", ("MS-WE-ADDRESS", "spec.address")),
        ("address: 'unix://relative.sock'", ("MS-WE-ADDRESS", "spec.address")),
        ("address: 'unix:///a.sock'\nports: {http: 80}", ("MS-WE-PORTS", "spec.ports")),
        ("address: 1.2.3.4\nports: {http: 0}", ("MS-PORT", "spec.ports[http]")),
        ("address: 1.2.3.4\nports: {Bad_Name: 80}", ("MS-PORT-NAME", "spec.ports[Bad_Name]")),
        ("address: 1.2.3.4\nlabels: {'bad key!': x}", ("MS-LABELS", "spec.labels[bad key!]")),
    ],
)
def test_workload_entry_rule(spec: str, expected: tuple[str, str]) -> None:
    assert expected in findings("WorkloadEntry", spec)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("template: {}\nprobe: {periodSeconds: 5}", ("MS-WG-PROBE", "spec.probe")),
        ("template: {}\nprobe: {httpGet: {port: 0}}", ("MS-PORT", "spec.probe.httpGet.port")),
        (
            "template: {}\nprobe: {httpGet: {port: 80, scheme: FTP}}",
            ("MS-WG-PROBE", "spec.probe.httpGet.scheme"),
        ),
        (
            "template: {}\nprobe: {tcpSocket: {port: 70000}}",
            ("MS-PORT", "spec.probe.tcpSocket.port"),
        ),
        ("template: {}\nprobe: {grpc: {service: x}}", ("MS-PORT", "spec.probe.grpc.port")),
        ("template: {}\nprobe: {exec: {command: []}}", ("MS-WG-PROBE", "spec.probe.exec.command")),
        ("template: {address: 'bad address!'}", ("MS-WE-ADDRESS", "spec.template.address")),
        (
            "template: {}\nmetadata: {labels: {'bad key!': x}}",
            ("MS-LABELS", "spec.metadata.labels[bad key!]"),
        ),
    ],
)
def test_workload_group_rule(spec: str, expected: tuple[str, str]) -> None:
    assert expected in findings("WorkloadGroup", spec)


def test_template_without_address_is_fine() -> None:
    assert (
        findings("WorkloadGroup", "template: {serviceAccount: vm}\nprobe: {tcpSocket: {port: 22}}")
        == []
    )
