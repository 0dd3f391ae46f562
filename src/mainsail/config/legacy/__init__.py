"""The book's pre-1.6 security kinds (``authentication.istio.io/v1alpha1``, ``rbac.istio.io/v1alpha1``).

Istio removed them in 1.6; Mainsail still parses them so the book's examples work, and converts
them to the modern kinds (``mainsail.snapshot.legacy_conversion``) before translation.
"""
