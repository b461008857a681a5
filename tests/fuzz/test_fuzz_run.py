"""The fuzz runner (`tests/fuzz/fuzz.py`) in the test suite.

By default a small run (4k events in rounds of 1,000, 60 rule texts, seed
7, a few seconds); with `-m slow` also the 20k-event, 300-text run. The
long run (1M events, 10k rule texts; figures in docs/reliability.md) is
`python tests/fuzz/fuzz.py --events 1000000 --rules 10000 --seed 1`.
Both sizes give the same verdict: no unhandled exception, no rule error,
processed + quarantined == fed in every round, every refused rule text
explained by diagnostics. Bugs already reported (`fuzz.KNOWN`, each pinned
by a strict xfail) are counted apart.
"""

from __future__ import annotations

import fuzz
import pytest

# name -> (events, rule texts, events per engine); the seed is 7 for both.
SIZES = {"small": (4_000, 60, 1_000), "full": (20_000, 300, 5_000)}


@pytest.fixture(scope="module", params=[pytest.param("small"), pytest.param("full", marks=pytest.mark.slow)])
def run(request, tmp_path_factory):
    """(events asked for, rule texts asked for, the run's summary)."""
    events, rules, round_size = SIZES[request.param]
    summary = fuzz.run(events, rules, seed=7, out_dir=tmp_path_factory.mktemp("fuzz"), round_size=round_size)
    return events, rules, summary


def test_no_unhandled_exception(run):
    _events, _rules, summary = run
    assert summary["failures"] == {}, summary["failures"]
    assert summary["harness_errors"] == 0


def test_every_event_was_fed_and_accounted(run):
    events, _rules, summary = run
    assert summary["events_fed_to_engine"] + summary["reader_bad_records"] >= events
    assert summary["events_processed"] > summary["events_fed_to_engine"] // 2
    reasons = set(summary["quarantined_by_reason"])
    assert {"bad-time", "late", "no-time", "reader:not-json", "reader:bad-encoding", "reader:oversized"} <= reasons
    assert summary["snapshot_restores"] >= 4 and summary["matches"] > 1000
    assert set(summary["event_rounds"]) == {"fuzz", "shipped"}


def test_every_rule_text_loaded_or_was_refused_with_diagnostics(run):
    _events, rules, summary = run
    outcomes = summary["rule_outcomes"]
    assert sum(outcomes.values()) == summary["rule_texts"] == rules
    assert set(outcomes) <= {"loaded", "PackError", "RuleSyntaxError"}
    # At least a tenth of the texts load, and a tenth are refused by the checker.
    assert outcomes["loaded"] >= rules // 10 and outcomes.get("PackError", 0) >= rules // 10
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
