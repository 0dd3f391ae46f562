"""Citadel: the mesh CA. Issues SPIFFE X.509 SVIDs to node agents over Istio's CSR API."""
