"""Durations, parsed and formatted in one module (`engine/duration.py`).

The language's literals round-trip (`parse_duration(format_duration(s)) == s`),
provenance keeps its historical form (whole units up to days), and the
playground's compound and human forms are the same functions.
"""

from __future__ import annotations

import math

import pytest

from sleuth.engine.duration import (
    UNITS,
    format_duration,
    format_human,
    format_seconds,
    parse_compound,
    parse_duration,
)

LITERALS = [("90s", 90.0), ("90m", 5400.0), ("1500ms", 1.5), ("1w", 604800.0), ("2d", 172800.0),
            ("1h", 3600.0), ("700ms", 0.7), ("1ms", 0.001), ("0.5ms", 0.0005)]


@pytest.mark.parametrize("text, seconds", LITERALS, ids=[t for t, _ in LITERALS])
def test_literals_round_trip(text, seconds):
    assert parse_duration(text) == seconds
    assert format_duration(seconds) == text


def test_decimal_parsing_makes_equal_durations_equal():
    assert parse_duration("0.7s") == parse_duration("700ms") == 0.7
    assert parse_duration("1.5h") == 5400.0


@pytest.mark.parametrize("text", ["", "5", "5x", "h", "1h30m", " 1h", "-1s", "1.s"])
def test_parse_duration_refuses_anything_but_one_literal(text):
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration(text)


def test_format_duration_of_infinity_reads_back():
    assert parse_duration(format_duration(math.inf)) == math.inf


@pytest.mark.parametrize("seconds, text", [(90, "90s"), (300, "5m"), (604800, "7d"), (1.5, "1500ms"),
                                           (3600 * 25, "25h"), (0, "0s"), (0.0001, "0.0001s"), (None, None)])
def test_provenance_form(seconds, text):
    assert format_seconds(seconds) == text


@pytest.mark.parametrize("text, seconds", [("5m", 300), ("1h30m", 5400), ("500ms", 0.5), ("2d1s", 172801),
                                           (" 90s ", 90), ("5x", None), ("", None), ("1h 30m", None)])
def test_compound(text, seconds):
    assert parse_compound(text) == seconds


@pytest.mark.parametrize("seconds, text", [(568, "9m28s"), (40, "40s"), (3600, "1h"), (0.5, "500ms"), (0, "0s"),
                                           (-90, "-1m30s"), (90061, "1d1h1m1s")])
def test_human_form(seconds, text):
    assert format_human(seconds) == text


def test_one_unit_table():
    assert list(UNITS) == ["w", "d", "h", "m", "s", "ms"]
