"""Istio's ext-authz sample (samples/extauthz), HTTP flavour: an external authorizer for
AuthorizationPolicy CUSTOM that allows a request carrying ``x-ext-authz: allow``."""
