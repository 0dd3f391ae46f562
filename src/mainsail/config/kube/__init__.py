"""Kubernetes-style kinds the local platform understands: Service, ServiceAccount, Deployment, Pod."""
