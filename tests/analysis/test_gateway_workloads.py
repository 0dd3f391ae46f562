from tests.analysis.helpers import codes, lines

GATEWAY = """
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: web}
spec:
  selector: {%s}
  servers:
  - port: {number: %d, name: http, protocol: HTTP}
    hosts: ["*"]
"""


def test_gateway_on_a_service_target_port_or_port_is_clean() -> None:
    assert codes(GATEWAY % ("istio: ingressgateway", 8080)) == []
    assert codes(GATEWAY % ("istio: ingressgateway", 80)) == []


def test_selector_matching_no_workload_is_reported() -> None:
    assert lines(GATEWAY % ("istio: egress", 8080)) == [
        'Error [IST0101] (Gateway default/web) Referenced selector not found: "istio=egress"'
    ]


def test_port_not_on_the_gateway_service_is_reported() -> None:
    assert lines(GATEWAY % ("istio: ingressgateway", 9000)) == [
        "Warning [IST0162] (Gateway default/web) The gateway is listening on a target port "
        "(port 9000) that is not defined in the Service associated with its workload instances "
        "(Pod selector istio=ingressgateway). If you need to access the gateway port through the "
        "gateway Service, it will not be available."
    ]
