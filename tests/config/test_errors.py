from mainsail.config.errors import ConfigError, ConfigRejected, ErrorCode, has_errors


def test_one_line_message_names_everything() -> None:
    error = ConfigError(
        file="bookinfo.yaml",
        document=2,
        kind="VirtualService",
        namespace="default",
        name="reviews",
        path="spec.http[0].route[0].weight",
        reason="must be >= 0",
        code=ErrorCode.VS_WEIGHT,
    )
    assert str(error) == (
        "bookinfo.yaml: document 2 (VirtualService default/reviews): "
        "spec.http[0].route[0].weight: must be >= 0 [MS-VS-WEIGHT]"
    )


def test_warning_and_partial_locations() -> None:
    warning = ConfigError(reason="r", code=ErrorCode.DR_OUTLIER, severity="warning", path="spec")
    assert str(warning) == "spec: warning: r [MS-DR-OUTLIER]"
    assert not has_errors([warning])
    placed = warning.located(
        file="f.yaml", document=3, kind="DestinationRule", namespace="ns", name="n"
    )
    assert (
        str(placed) == "f.yaml: document 3 (DestinationRule ns/n): spec: warning: r [MS-DR-OUTLIER]"
    )


def test_codes_are_unique_and_prefixed() -> None:
    values = [c.value for c in ErrorCode]
    assert len(values) == len(set(values))
    assert all(v.startswith("MS-") for v in values)


def test_rejected_carries_errors() -> None:
    error = ConfigError(reason="bad", code=ErrorCode.YAML, file="x.yaml", document=1)
    exc = ConfigRejected([error])
    assert exc.errors == (error,)
    assert "x.yaml: document 1: bad [MS-YAML]" in str(exc)
