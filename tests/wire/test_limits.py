"""--limit NAME=VALUE: parsing, applying, and the WebSocket frame bound derived from the limits."""

import pytest

from turnscribe.wire.limits import DEFAULT_LIMITS, Limits, parse_limit


def test_parse_limit_takes_ints_floats_and_dashes() -> None:
    assert parse_limit("max_keyterms=50") == ("max_keyterms", 50)
    assert parse_limit("max-backlog-s=12.5") == ("max_backlog_s", 12.5)
    name, value = parse_limit(" max_tags =0")
    assert (name, value) == ("max_tags", 0) and isinstance(value, int)


@pytest.mark.parametrize("item,needle", [
    ("max_keyterms", "NAME=VALUE"),
    ("no_such_limit=3", "NAME=VALUE"),
    ("max_keyterms=lots", "needs a number"),
    ("max_keyterms=2.5", "needs a number"),
    ("max_send_wait_s=-1", "must not be negative"),
])
def test_parse_limit_names_the_problem(item: str, needle: str) -> None:
    with pytest.raises(ValueError, match=needle):
        parse_limit(item)


def test_with_settings_changes_only_what_is_named() -> None:
    limits = DEFAULT_LIMITS.with_settings(["max_tags=4", "max-send-wait-s=2"])
    assert limits.max_tags == 4 and limits.max_send_wait_s == 2.0
    assert limits.max_keyterms == DEFAULT_LIMITS.max_keyterms
    assert DEFAULT_LIMITS.with_settings([]) == DEFAULT_LIMITS


def test_websocket_max_size_is_past_the_larger_frame_limit() -> None:
    limits = Limits(max_text_frame_bytes=1000, max_binary_frame_bytes=300)
    assert limits.websocket_max_size == 2000
    assert DEFAULT_LIMITS.websocket_max_size > DEFAULT_LIMITS.max_binary_frame_bytes
