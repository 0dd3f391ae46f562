"""Add-ons for tools outside the mesh (Istio's ``samples/addons``): Grafana dashboards."""
