"""The config, proxies and traces pages on the live demo, and errors when the API fails."""

from __future__ import annotations

from mainsail.testing.mesh import LocalMesh
from tests.e2e_dashboard.conftest import NACK_VS, DashboardPage, cli

WITHIN_MS = 60_000

UNDEFINED_SUBSET = """\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: reviews-to-nowhere
spec:
  hosts: [reviews]
  http:
  - route:
    - destination: {host: reviews, subset: v9}
"""


def test_the_config_view_flags_an_invalid_reference(
    dashboard: DashboardPage, mesh: LocalMesh
) -> None:
    path = mesh.home.root / "undefined-subset.yaml"
    path.write_text(UNDEFINED_SUBSET, encoding="utf-8")
    cli(mesh, "apply", "-f", str(path))
    page = dashboard.open("/config?refresh=1")
    # The Gateway is valid and bound to the ingress gateway's proxy.
    page.fill(dashboard.testid("config-filter"), "Gateway bookinfo-gateway")
    gateway = dashboard.testid("config-row-Gateway-default-bookinfo-gateway")
    page.wait_for_selector(f"{gateway}[data-status=valid]")
    assert page.inner_text(f"{gateway} td.num") == "1"
    # The VirtualService routing to an undefined subset is flagged (istioctl analyze's IST0101).
    row = dashboard.testid("config-row-VirtualService-default-reviews-to-nowhere")
    page.fill(dashboard.testid("config-filter"), "reviews-to-nowhere")
    page.wait_for_function(
        "() => document.querySelectorAll('tr.config-row').length === 1", timeout=WITHIN_MS
    )
    page.wait_for_selector(f"{row}[data-status=error]", timeout=WITHIN_MS)
    assert page.inner_text(f"{row} {dashboard.testid('status')}") == "error"
    assert "IST0101" in page.inner_text(row)
    page.click(row)
    detail = page.locator(
        dashboard.testid("config-detail-VirtualService-default-reviews-to-nowhere")
    )
    detail.wait_for()
    findings = detail.locator(dashboard.testid("findings")).inner_text()
    assert "IST0101" in findings and "v9" in findings, findings
    assert "subset: v9" in detail.locator(dashboard.testid("yaml")).inner_text()


def test_the_proxies_view_shows_a_nack_with_envoys_message(
    dashboard: DashboardPage, mesh: LocalMesh
) -> None:
    path = mesh.home.root / "nack.yaml"
    path.write_text(
        f"""\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: {NACK_VS}
spec:
  hosts: [ratings]
  http:
  - route:
    - destination: {{host: ratings}}
""",
        encoding="utf-8",
    )
    page = dashboard.open("/proxies?refresh=1")
    page.wait_for_selector(dashboard.testid("proxies-table"))
    assert page.locator("[data-state=NACK]").count() == 0
    cli(mesh, "apply", "-f", str(path))
    nack = page.locator("td[data-state=NACK]").first
    nack.wait_for(timeout=WITHIN_MS)
    testid = nack.get_attribute("data-testid") or ""
    assert testid.startswith("proxy-") and testid.endswith("-RDS"), testid
    proxy = testid.removeprefix("proxy-").removesuffix("-RDS")
    message = page.inner_text(dashboard.testid(f"nack-{proxy}-RDS"))
    assert "missing )" in message, message  # Envoy's own reason for refusing the regex
    # The proxy's own page shows it too, and its config dump opens.
    page.click(f"{dashboard.testid(f'proxy-{proxy}')} a")
    page.wait_for_url(f"**/#/proxies/{proxy}*")
    row = dashboard.testid(f"proxy-{proxy}-RDS")
    page.wait_for_selector(f"{row}[data-state=NACK]")
    assert "missing )" in page.inner_text(row)
    assert "expires in" in page.inner_text(dashboard.testid("certificate"))
    page.click(dashboard.testid("load-config-dump"))
    dump = page.locator(dashboard.testid("config-dump"))
    dump.wait_for()
    assert "configs" in dump.inner_text()
    dump.locator("summary", has_text="configs").click()
    page.wait_for_selector(f"{dashboard.testid('config-dump')} >> text=ClustersConfigDump")
    cli(mesh, "delete", "virtualservice", NACK_VS)
    page.wait_for_selector(f"{row}[data-state=SYNCED]", timeout=WITHIN_MS)


def test_the_traces_page_lists_a_trace_and_opens_its_waterfall(dashboard: DashboardPage) -> None:
    page = dashboard.open("/traces?refresh=1")
    # A trace whose spans have arrived (Envoys report theirs independently, so the newest trace
    # may still lack its root): one through the gateway to productpage and on has 4 or more.
    handle = page.wait_for_function(
        """() => {
          for (const row of document.querySelectorAll("tr[data-testid^=trace-]")) {
            const cells = row.querySelectorAll("td");
            if (cells.length > 4 && Number(cells[4].textContent) >= 4) {
              return row.dataset.testid.slice("trace-".length);
            }
          }
          return null;
        }""",
        timeout=WITHIN_MS,
    )
    trace_id = handle.json_value()
    first = page.locator(f'tr[data-testid="trace-{trace_id}"] a').first
    first.click()
    page.wait_for_url(f"**/#/traces/{trace_id}")
    page.wait_for_selector(dashboard.testid("waterfall"))
    rows = page.locator(".span-row[data-testid^=span-]")
    assert rows.count() >= 2
    depths = [
        int(d)
        for d in page.eval_on_selector_all(
            ".span-row[data-testid^=span-]", "(r) => r.map((x) => x.dataset.depth)"
        )
    ]
    offsets = [
        float(o)
        for o in page.eval_on_selector_all(
            ".span-row[data-testid^=span-]", "(r) => r.map((x) => x.dataset.offset)"
        )
    ]
    # Nested under parents, the root first at offset 0, children starting later.
    assert depths[0] == 0 and max(depths) >= 1, depths
    assert offsets[0] == 0 and max(offsets) > 0, offsets
    bars = page.eval_on_selector_all(
        ".span-bar", "(b) => b.map((x) => x.getBoundingClientRect().left)"
    )
    assert len(set(bars)) > 1
    rows.nth(1).click()
    assert "span id" in page.inner_text(dashboard.testid("span-details"))


def test_a_failing_request_is_named_on_the_page(dashboard: DashboardPage) -> None:
    page = dashboard.open("/services/default/no-such-service?refresh=60")
    error = page.locator(dashboard.testid("error"))
    error.wait_for()
    text = error.inner_text()
    assert "Loading service default/no-such-service failed" in text, text
    assert "GET /api/services/default/no-such-service" in text and "404" in text, text


LEGACY_POLICY = """\
apiVersion: authentication.istio.io/v1alpha1
kind: Policy
metadata:
  name: details-permissive
spec:
  targets:
  - name: details
  peers:
  - mtls:
      mode: PERMISSIVE
"""


def test_a_legacy_resource_shows_its_converted_form(
    dashboard: DashboardPage, mesh: LocalMesh
) -> None:
    # PERMISSIVE is what details has anyway: the shared mesh's traffic does not change.
    path = mesh.home.root / "legacy-policy.yaml"
    path.write_text(LEGACY_POLICY, encoding="utf-8")
    cli(mesh, "apply", "-f", str(path))
    try:
        page = dashboard.open("/config?refresh=1")
        row = dashboard.testid("config-row-Policy-default-details-permissive")
        page.fill(dashboard.testid("config-filter"), "details-permissive")
        page.wait_for_selector(row, timeout=WITHIN_MS)
        assert "legacy" in page.inner_text(row)
        page.click(row)
        detail = page.locator(dashboard.testid("config-detail-Policy-default-details-permissive"))
        converted = detail.locator(dashboard.testid("converted")).inner_text()
        assert "kind: PeerAuthentication" in converted and "mode: PERMISSIVE" in converted
        assert (
            "authentication.istio.io/v1alpha1"
            in detail.locator(dashboard.testid("yaml")).inner_text()
        )
    finally:
        cli(mesh, "delete", "-f", str(path))
