"""Services and workloads, whatever they come from (local platform, ServiceEntry, Kubernetes)."""
