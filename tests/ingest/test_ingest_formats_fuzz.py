"""Property tests of the log formats: any bytes give an event, a Bad or None, never an exception.

Inputs are arbitrary bytes and mutations of the real-format samples (cut,
spliced, a field replaced by junk), fed to every format's reader; an event
must survive the Normalizer with canonical types.
"""

from __future__ import annotations

import math
import os
import pathlib

import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from sleuth.engine.ingest.formats import FORMATS, REASONS, sniff_extra  # noqa: E402
from sleuth.engine.ingest.normalize import CANONICAL_FIELDS, BadInput, Normalizer  # noqa: E402
from sleuth.engine.ingest.source import Bad  # noqa: E402

FAST = settings(max_examples=int(os.environ.get("SLEUTH_FUZZ_EXAMPLES", "200")), deadline=None,
                suppress_health_check=[HealthCheck.too_slow])
DATA = pathlib.Path(__file__).resolve().parent / "data" / "formats"
SAMPLE_LINES = [line for p in sorted(DATA.glob("*.log")) for line in p.read_bytes().split(b"\n") if line]
KNOWN = set(REASONS) | {"unparsable-line", "bad-time", "no-time", "not-json", "bad-encoding"}
NORM = Normalizer()

JUNK = st.sampled_from([b"", b"-", b'"', b'" "', b"\t", b" ", b"\xff", b"\x00", b"\\", b"{", b"}", b"[", b"]",
                        b"99999999999999999999999", b"-1", b"NaN", b"1e309", b"2024-13-45T99:99:99Z",
                        b"#Fields: date time", b'":"', b"null", b"%", b"%2", b"%zz", b"\r"]) | st.binary(max_size=12)


@st.composite
def mutated(draw) -> bytes:
    line = draw(st.sampled_from(SAMPLE_LINES))
    how = draw(st.sampled_from(["cut", "insert", "replace-field", "splice", "repeat"]))
    i = draw(st.integers(0, len(line)))
    if how == "cut":
        return line[:i]
    if how == "insert":
        return line[:i] + draw(JUNK) + line[i:]
    if how == "splice":
        other = draw(st.sampled_from(SAMPLE_LINES))
        return line[:i] + other[draw(st.integers(0, len(other))):]
    if how == "repeat":
        return line[:i] + line[i:i + 8] * draw(st.integers(0, 500)) + line[i:]
    sep = b"\t" if b"\t" in line else b" "
    parts = line.split(sep)
    k = draw(st.integers(0, len(parts) - 1))
    parts[k] = draw(JUNK)
    return sep.join(parts)


LINES = mutated() | st.binary(max_size=300) | st.text(max_size=200).map(lambda s: s.encode("utf-8", "surrogatepass"))


def _check(item):
    if item is None:
        return
    if isinstance(item, Bad):
        assert item.reason in KNOWN
        assert isinstance(item.detail, str) and len(item.excerpt) <= 200
        return
    assert type(item) is dict
    ts = item["ts"]
    assert type(ts) is float and 0.0 <= ts <= 253402300800.0 and not math.isnan(ts)
    try:
        ev = NORM(item, "fuzz", 1)
    except BadInput as e:  # pragma: no cover - the parsers always give a usable ts
        raise AssertionError(f"parser gave an event the Normalizer refuses: {e}") from None
    for name, t in CANONICAL_FIELDS.items():
        if name in ev:
            assert type(ev[name]) is t, (name, ev[name])


@FAST
@given(st.sampled_from(sorted(FORMATS)), st.lists(LINES, min_size=1, max_size=6))
def test_any_lines_give_event_bad_or_none(fmt, lines):
    reader = FORMATS[fmt].reader()
    for line in lines:
        _check(reader.feed_line(line))


@FAST
@given(LINES)
def test_w3c_state_survives_any_directive(line):
    # a header, then anything (even a broken #Fields), then a good data line: never an exception
    reader = FORMATS["iis"].reader()
    for x in (b"#Fields: date time c-ip cs-method cs-uri-stem sc-status", line,
              b"2024-05-01 12:00:00 203.0.113.7 GET / 200"):
        _check(reader.feed_line(x))


@FAST
@given(st.binary(max_size=400) | mutated().map(lambda b: b + b"\n" + b))
def test_sniffing_any_bytes(head):
    assert sniff_extra(head) in (None, *FORMATS)
