"""Access logs to a file, as istiod builds them from MeshConfig (``telemetry_logging.go``).

``accessLogFile`` empty: no access log (Istio's default). ``/dev/stdout`` — what Istio's demo
profile sets — becomes the pod's own file on the local platform (the agent puts its path in the
node metadata as ``MAINSAIL_ACCESS_LOG``, ``<home>/logs/<ns>.<pod>.access.log``); any other path is
used as given. ``accessLogEncoding`` TEXT uses ``accessLogFormat`` or Istio's default text format
(a newline added when missing); JSON uses ``accessLogFormat`` parsed as a JSON object, or Istio's
default JSON labels when it is empty or not a JSON object (istiod logs and falls back too).
"""

from __future__ import annotations

import json

from envoy.config.accesslog.v3 import accesslog_pb2
from envoy.config.core.v3 import substitution_format_string_pb2
from envoy.extensions.access_loggers.file.v3 import file_pb2

from mainsail.config.mesh import MeshConfig
from mainsail.snapshot.proxy import ProxyNode

FILE_LOGGER = "envoy.access_loggers.file"
STDOUT = "/dev/stdout"
ACCESS_LOG_METADATA = "MAINSAIL_ACCESS_LOG"

# Istio's ``EnvoyTextLogFormat`` (1.9 onwards).
ISTIO_TEXT_FORMAT = (
    '[%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%" '
    "%RESPONSE_CODE% %RESPONSE_FLAGS% %RESPONSE_CODE_DETAILS% %CONNECTION_TERMINATION_DETAILS% "
    '"%UPSTREAM_TRANSPORT_FAILURE_REASON%" %BYTES_RECEIVED% %BYTES_SENT% %DURATION% '
    '%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% "%REQ(X-FORWARDED-FOR)%" "%REQ(USER-AGENT)%" '
    '"%REQ(X-REQUEST-ID)%" "%REQ(:AUTHORITY)%" "%UPSTREAM_HOST%" %UPSTREAM_CLUSTER_RAW% '
    "%UPSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_REMOTE_ADDRESS% "
    "%REQUESTED_SERVER_NAME% %ROUTE_NAME%\n"
)

# Istio's ``EnvoyJSONLogFormatIstio``: the same operators under snake_case keys.
ISTIO_JSON_FORMAT: dict[str, str] = {
    "start_time": "%START_TIME%",
    "route_name": "%ROUTE_NAME%",
    "method": "%REQ(:METHOD)%",
    "path": "%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%",
    "protocol": "%PROTOCOL%",
    "response_code": "%RESPONSE_CODE%",
    "response_flags": "%RESPONSE_FLAGS%",
    "response_code_details": "%RESPONSE_CODE_DETAILS%",
    "connection_termination_details": "%CONNECTION_TERMINATION_DETAILS%",
    "bytes_received": "%BYTES_RECEIVED%",
    "bytes_sent": "%BYTES_SENT%",
    "duration": "%DURATION%",
    "upstream_service_time": "%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)%",
    "x_forwarded_for": "%REQ(X-FORWARDED-FOR)%",
    "user_agent": "%REQ(USER-AGENT)%",
    "request_id": "%REQ(X-REQUEST-ID)%",
    "authority": "%REQ(:AUTHORITY)%",
    "upstream_host": "%UPSTREAM_HOST%",
    "upstream_cluster": "%UPSTREAM_CLUSTER_RAW%",
    "upstream_local_address": "%UPSTREAM_LOCAL_ADDRESS%",
    "downstream_local_address": "%DOWNSTREAM_LOCAL_ADDRESS%",
    "downstream_remote_address": "%DOWNSTREAM_REMOTE_ADDRESS%",
    "requested_server_name": "%REQUESTED_SERVER_NAME%",
    "upstream_transport_failure_reason": "%UPSTREAM_TRANSPORT_FAILURE_REASON%",
}


def access_log_path(mesh: MeshConfig, node: ProxyNode) -> str | None:
    """Where this proxy writes its access log, or None when access logging is off."""
    if not mesh.access_log_file:
        return None
    if mesh.access_log_file == STDOUT:
        own = dict(node.extra).get(ACCESS_LOG_METADATA)
        if own:
            return own
    return mesh.access_log_file


def _json_labels(text: str) -> dict[str, object]:
    if text:
        try:
            parsed = json.loads(text)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict) and parsed:
            return parsed
    return dict(ISTIO_JSON_FORMAT)


def _format(mesh: MeshConfig) -> substitution_format_string_pb2.SubstitutionFormatString:
    if mesh.access_log_encoding == "JSON":
        formatted = substitution_format_string_pb2.SubstitutionFormatString()
        formatted.json_format.update(_json_labels(mesh.access_log_format))
        return formatted
    text = mesh.access_log_format or ISTIO_TEXT_FORMAT
    if not text.endswith("\n"):
        text += "\n"  # "Istio will insert a newline on all formats (if missing)."
    formatted = substitution_format_string_pb2.SubstitutionFormatString()
    formatted.text_format_source.inline_string = text
    return formatted


def file_access_logs(
    mesh: MeshConfig, node: ProxyNode, log_filter: accesslog_pb2.AccessLogFilter | None = None
) -> list[accesslog_pb2.AccessLog]:
    path = access_log_path(mesh, node)
    if path is None:
        return []
    logger = accesslog_pb2.AccessLog(name=FILE_LOGGER)
    logger.typed_config.Pack(file_pb2.FileAccessLog(path=path, log_format=_format(mesh)))
    if log_filter is not None:
        logger.filter.CopyFrom(log_filter)
    return [logger]
