"""The fuzz runner in the test suite: a short run of `benchmarks/fuzz.py`.

The long run (1M events, 10k rule texts; figures in docs/reliability.md)
is `python benchmarks/fuzz.py --events 1000000 --rules 10000 --seed 1`.
Here: 20k events and 300 rule texts with a fixed seed, and the same
verdict: no unhandled exception, no rule error, processed + quarantined ==
fed in every round, every refused rule text explained by diagnostics.
Bugs already reported (`fuzz.KNOWN`, each pinned by a strict xfail) are
counted apart.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "benchmarks"))
import fuzz  # noqa: E402


@pytest.fixture(scope="module")
def summary(tmp_path_factory):
    return fuzz.run(20_000, 300, seed=7, out_dir=tmp_path_factory.mktemp("fuzz"), round_size=5000)


def test_no_unhandled_exception(summary):
    assert summary["failures"] == {}, summary["failures"]
    assert summary["harness_errors"] == 0


def test_every_event_was_fed_and_accounted(summary):
    assert summary["events_fed_to_engine"] + summary["reader_bad_records"] >= 20_000
    assert summary["events_processed"] > summary["events_fed_to_engine"] // 2
    reasons = set(summary["quarantined_by_reason"])
    assert {"bad-time", "late", "no-time", "reader:not-json", "reader:bad-encoding", "reader:oversized"} <= reasons
    assert summary["snapshot_restores"] >= 4 and summary["matches"] > 1000
    assert set(summary["event_rounds"]) == {"fuzz", "shipped"}


def test_every_rule_text_loaded_or_was_refused_with_diagnostics(summary):
    outcomes = summary["rule_outcomes"]
    assert sum(outcomes.values()) == summary["rule_texts"] == 300
    assert set(outcomes) <= {"loaded", "PackError", "RuleSyntaxError"}
    assert outcomes["loaded"] >= 30 and outcomes.get("PackError", 0) >= 30
    assert len(summary["diagnostic_codes"]) >= 20
    assert set(summary["rule_texts_by_kind"]) == {"mutated-pack", "generated-valid", "generated-wild",
                                                   "mutated-generated", "token-soup"}


def test_the_fuzzer_detects_a_crash(monkeypatch, tmp_path):
    """A fuzzer that cannot fail proves nothing: break the engine, see it reported."""
    from sleuth.engine import Engine

    real = Engine.feed_many

    def broken(self, events, *a, **k):
        if len(events) > 100:
            raise RuntimeError("planted")
        return real(self, events, *a, **k)

    monkeypatch.setattr(Engine, "feed_many", broken)
    s = fuzz.run(3000, 0, seed=3, out_dir=tmp_path)
    assert any("planted" in sig for sig in s["failures"])
    assert list(tmp_path.glob("failure-*.json"))
