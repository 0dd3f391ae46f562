"""The book's Mixer model (``config.istio.io/v1alpha2``): handler, instance and rule kinds, the
attribute vocabulary and the CEXL expression language, parsed and type-checked here and
compiled into Envoy by ``xds.mixer``."""
