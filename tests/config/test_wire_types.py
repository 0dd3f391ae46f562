from datetime import timedelta

import pytest

from mainsail.config.wire_types import format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1s", timedelta(seconds=1)),
        ("0.5s", timedelta(milliseconds=500)),
        ("100ms", timedelta(milliseconds=100)),
        ("1h", timedelta(hours=1)),
        ("1m30s", timedelta(seconds=90)),
        ("1h2m3.5s", timedelta(hours=1, minutes=2, seconds=3.5)),
        ("250us", timedelta(microseconds=250)),
        ("0", timedelta(0)),
        ("-2s", timedelta(seconds=-2)),
        ("7200s", timedelta(hours=2)),
    ],
)
def test_parse_duration(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "1", "s", "1x", "1.2.3s", "soon", "1s ms"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (timedelta(seconds=1), "1s"),
        (timedelta(milliseconds=100), "0.100s"),
        (timedelta(microseconds=5), "0.000005s"),
        (timedelta(minutes=1, seconds=30), "90s"),
        (timedelta(seconds=-1.5), "-1.500s"),
    ],
)
def test_format_duration_round_trips(value: timedelta, text: str) -> None:
    assert format_duration(value) == text
    assert parse_duration(text) == value
