"""Echo: an HTTP workload that answers every request with what it saw, for traffic tests.

``python -m mainsail.samples.echo`` serves on ``$INSTANCE_IP:$PORT`` (defaults ``127.0.0.1`` and
``8080``) like every local-platform app. Every request, any method and path, gets ``200`` with a
JSON body::

    {"version": "v1", "pod": "echo-v1-0", "method": "GET", "path": "/a/b",
     "query": {"x": "1"}, "headers": {"host": "echo:8080", ...}, "body_length": 0}

- ``version`` is ``$SERVICE_VERSION`` (default ``v1``), ``pod`` is ``$POD_NAME`` (default ``""``);
  traffic-management tests tell subsets and pods apart by them.
- ``headers`` holds every request header as received (lower-case names; repeated headers joined
  with ``,``), so tests see what the proxy added, removed or rewrote. ``path`` is the path the
  server received (after any rewrite), ``query`` the decoded query parameters (first value).
- ``?status=NNN`` answers with that status (same body); ``?delay=0.5`` waits that many seconds
  first (both together work). Bad values answer ``400``.
- ``$FAIL_RATE`` (default ``0``): that share of requests, chosen at random, is answered ``503``
  (same body): a flaky endpoint for retry and outlier-detection tests.
- ``$LOG_REQUESTS=true`` prints each answered request (the JSON body plus ``status``) as one line
  on stdout, so a request nobody reads the answer to (a mirror's) is still seen.
- ``GET /health`` answers ``200`` ``{"status": "ok"}`` without echoing.

``EchoServer`` runs the same app in-process (tests, OS-chosen port).
"""

from mainsail.samples.echo.server import EchoServer, EchoSettings, build_app

__all__ = ["EchoServer", "EchoSettings", "build_app"]
