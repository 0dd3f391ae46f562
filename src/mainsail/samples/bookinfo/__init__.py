"""BookInfo: Istio's four-service sample, one module per service.

Run each with ``python -m mainsail.samples.bookinfo.<service>``:

* ``productpage`` - the HTML page and ``/api/v1/products``; calls details and reviews.
* ``details`` - book facts.
* ``reviews`` - two reviews; v2 and v3 (``SERVICE_VERSION``) add stars from ratings.
* ``ratings`` - stars per reviewer.

Every app listens on ``$INSTANCE_IP:$PORT`` (default ``127.0.0.1:9080``), serves ``/health``,
forwards the tracing headers it received (see ``_propagation``) and makes its outbound calls to
plain URLs such as ``http://reviews:9080`` through ``$HTTP_PROXY`` - the sidecar's HTTP-proxy
listener. ``<SERVICE>_HOSTNAME`` and ``<SERVICE>_SERVICE_PORT`` repoint an upstream, as in Istio.

The Kubernetes manifests are in ``platform/`` and Istio's traffic-management samples in
``networking/``, under Istio's file names.
"""
