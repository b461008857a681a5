"""The report in a real browser: headless Chromium loads the page of a simulated run.

Driven without a browser-automation dependency: a copy of the page gets one
more script (its hash added to the page's Content-Security-Policy) that
records errors, console errors and policy violations from the first moment,
then, once the page has loaded, reads the timeline's bars, works the tabs by
keyboard, opens every match on every page of the list, follows a campaign's
anchor, filters by rule, and writes what it saw into the DOM;
`chromium --dump-dom` returns it and the assertions compare it with figures
recomputed from the matches file. Screenshots (light and dark) are kept under
the test's tmp dir (and copied to $SLEUTH_TEST_ARTEFACTS when set). Skipped,
with the reason, when Chromium is not installed or does not start.
"""

from __future__ import annotations

import base64
import hashlib
import math
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import orjson
import pytest
from reportkit import expected_timeline, read_matches

from sleuth.engine.match import provenance_event_ids
from sleuth.playground.report import render_report
from sleuth.playground.report.inputs import CLIP_KEY_CHARS, clip

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars", "--mute-audio"]
PAGE_SIZE = 25

HARNESS = r"""
(function () {
  "use strict";
  var H = { errors: [], csp: [] };
  window.addEventListener("error", function (e) {
    H.errors.push("error: " + (e.message || (e.target && e.target.tagName) || "?"));
  }, true);
  window.addEventListener("unhandledrejection", function (e) { H.errors.push("rejection: " + e.reason); });
  document.addEventListener("securitypolicyviolation", function (e) {
    H.csp.push(e.violatedDirective + " " + e.blockedURI);
  });
  ["error", "warn"].forEach(function (k) {
    var orig = console[k];
    console[k] = function () {
      H.errors.push("console." + k + ": " + Array.prototype.join.call(arguments, " "));
      return orig.apply(console, arguments);
    };
  });
  function tick() { return new Promise(function (r) { setTimeout(r, 0); }); }
  async function opened(li) {
    for (var i = 0; i < 50 && !li.querySelector(".prov").firstChild; i++) { await tick(); }
  }
  async function run() {
    var out = { timeline: {} };
    ["ttp", "goal"].forEach(function (kind) {
      var svg = document.getElementById("timeline-" + kind);
      if (!svg) { return; }
      var series = svg.getAttribute("data-series").split(",");
      var bins = {};
      svg.querySelectorAll("g.bar").forEach(function (g) {
        var row = {}, heights = {};
        g.querySelectorAll("rect").forEach(function (r) {
          var s = series[+r.getAttribute("data-s")];
          row[s] = +r.getAttribute("data-v");
          heights[s] = r.getBBox().height;
        });
        bins[g.getAttribute("data-bin")] = { total: +g.getAttribute("data-total"), row: row, heights: heights,
          title: g.querySelector("title").textContent };
      });
      out.timeline[kind] = { bins: bins, label: svg.getAttribute("aria-labelledby"),
        title: svg.querySelector("title").textContent };
    });
    var tab = document.getElementById("tab-ttp");
    if (tab) {
      tab.focus();
      tab.dispatchEvent(new KeyboardEvent("keydown", { key: "ArrowRight", bubbles: true }));
      out.tabs = { goalShown: !document.getElementById("panel-goal").hidden,
        ttpHidden: document.getElementById("panel-ttp").hidden, focused: document.activeElement.id,
        selected: document.activeElement.getAttribute("aria-selected") };
    }
    var seen = {}, pages = 0, order = [];
    var next = document.querySelector("#pager [data-go=next]");
    document.querySelector("#pager [data-go=first]").click();
    while (pages < 10000) {
      pages++;
      var items = Array.prototype.slice.call(document.querySelectorAll("#m-list > li"));
      for (var i = 0; i < items.length; i++) {
        var li = items[i], summary = li.querySelector("summary");
        var focusable = summary.tabIndex >= 0;
        summary.click();
        await opened(li);
        var prov = li.querySelector(".prov");
        seen[li.id.slice(2)] = { open: li.querySelector("details").open, focusable: focusable,
          events: Array.prototype.map.call(prov.querySelectorAll(".ev-id"), function (td) { return td.getAttribute("data-id"); }),
          headings: Array.prototype.map.call(prov.querySelectorAll("h4"), function (h) { return h.textContent; }),
          summary: summary.textContent, text: prov.textContent };
        order.push(li.id.slice(2));
        summary.click();
      }
      if (next.disabled) { break; }
      next.click();
    }
    out.seen = seen; out.pages = pages; out.order = order;
    var a = document.querySelector('#table-campaigns th a[href^="#m-"]');
    if (a) {
      document.querySelector("#pager [data-go=first]").click();
      location.hash = a.getAttribute("href");
      for (var k = 0; k < 20; k++) { await tick(); }
      var id = a.getAttribute("href").slice(3), target = document.getElementById("m-" + id);
      out.hash = { id: id, open: !!(target && target.querySelector("details").open),
        focused: document.activeElement && document.activeElement.tagName,
        cites: target ? Array.prototype.map.call(target.querySelectorAll('.prov td a[href^="#m-"]'),
          function (x) { return x.getAttribute("href").slice(3); }) : [] };
    }
    var sel = document.getElementById("f-rule");
    if (sel.options.length > 1) {
      sel.value = sel.options[1].value;
      sel.dispatchEvent(new Event("change", { bubbles: true }));
      out.filter = { rule: sel.value, status: document.getElementById("m-status").textContent,
        rules: Array.prototype.map.call(document.querySelectorAll("#m-list .rule"), function (r) { return r.textContent; }) };
      // an anchor to a match the filter hides: the filters clear and the match opens
      var data = JSON.parse(document.getElementById("sleuth-data").textContent);
      var other = data.matches.filter(function (m) { return m.rule !== sel.value; }).pop();
      location.hash = "#m-" + other.match_id;
      for (var k2 = 0; k2 < 20; k2++) { await tick(); }
      var li2 = document.getElementById("m-" + other.match_id);
      out.hidden = { id: other.match_id, rule: sel.value, open: !!(li2 && li2.querySelector("details").open),
        status: document.getElementById("m-status").textContent };
    }
    var actor = document.querySelector("#table-actors a[data-filter]");
    if (actor) {
      actor.click();
      out.actor = { value: actor.getAttribute("data-value"), status: document.getElementById("m-status").textContent,
        focused: document.activeElement.id,
        keys: Array.prototype.map.call(document.querySelectorAll("#m-list .key"), function (k) { return k.textContent; }) };
    }
    return out;
  }
  function report(out) {
    var pre = document.createElement("pre");
    pre.id = "harness-result";
    pre.textContent = JSON.stringify({ out: out, errors: H.errors, csp: H.csp,
      pwned: window.__pwned === undefined ? null : window.__pwned,
      injected: document.querySelectorAll("img, iframe, object, embed").length });
    document.body.appendChild(pre);
  }
  window.addEventListener("load", function () {
    run().then(report, function (e) { H.errors.push("harness: " + e + " " + (e && e.stack)); report(null); });
  });
}());
"""


def find_chromium() -> tuple[str | None, str]:
    """(path, "") of a working headless Chromium, or (None, why not)."""
    env = os.environ.get("SLEUTH_CHROMIUM")
    candidates = [env] if env else ["chromium", "chromium-browser", "google-chrome", "chrome"]
    for name in candidates:
        path = shutil.which(name) if name else None
        if not path:
            continue
        try:
            proc = subprocess.run([path, *FLAGS, "--version"], capture_output=True, text=True, timeout=60)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return None, f"{path} does not start: {exc}"
        if proc.returncode == 0:
            return path, ""
        return None, f"{path} --version exited {proc.returncode}: {proc.stderr.strip()[:200]}"
    return None, ("headless Chromium not found (Debian: apt-get install chromium; .ci/run installs it; "
                  "or set SLEUTH_CHROMIUM to its path)")


@pytest.fixture(scope="module")
def chromium() -> str:
    path, why = find_chromium()
    if path is None:
        pytest.skip(why)
    return path


def browse(chromium: str, page: Path, *args: str, timeout: int = 180) -> subprocess.CompletedProcess:
    """Chromium on `page` with a fresh profile; returns the finished process (stdout: --dump-dom)."""
    with tempfile.TemporaryDirectory(prefix="sleuth-chromium-") as profile:
        return subprocess.run([chromium, *FLAGS, f"--user-data-dir={profile}", "--enable-logging=stderr",
                               "--v=0", *args, page.resolve().as_uri()],
                              capture_output=True, text=True, timeout=timeout)


def with_harness(html: str) -> str:
    """The page plus the harness script, first thing in <head>, allowed by its hash."""
    digest = base64.b64encode(hashlib.sha256(HARNESS.encode()).digest()).decode()
    assert html.count("script-src '") == 1
    html = html.replace("script-src '", f"script-src 'sha256-{digest}' '", 1)
    return html.replace("<head>", f"<head><script>{HARNESS}</script>", 1)


def harness_result(chromium: str, page: Path, tmp: Path) -> tuple[dict, str]:
    test_page = tmp / f"harness-{page.name}"
    test_page.write_text(with_harness(page.read_text(encoding="utf-8")), encoding="utf-8")
    proc = browse(chromium, test_page, "--virtual-time-budget=120000", "--dump-dom")
    assert proc.returncode == 0, proc.stderr[-2000:]
    m = re.search(r'<pre id="harness-result">(.*?)</pre>', proc.stdout, re.S)
    assert m, "the harness wrote no result; the page's script may have failed:\n" + proc.stderr[-3000:]
    import html as html_mod

    return orjson.loads(html_mod.unescape(m.group(1))), proc.stderr


def console_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if ":CONSOLE" in line]


@pytest.fixture(scope="module")
def seen(chromium, sim_run, tmp_path_factory) -> dict:
    result, stderr = harness_result(chromium, sim_run["report"], tmp_path_factory.mktemp("browser"))
    result["stderr"] = stderr
    return result


def test_no_error_no_console_message_no_policy_violation(seen):
    assert seen["errors"] == []
    assert seen["csp"] == []
    assert console_lines(seen["stderr"]) == []
    assert seen["out"] is not None


def test_timeline_bars_equal_counts_from_the_matches_file(seen, sim_run):
    matches = read_matches(sim_run["matches"])
    for kind in ("ttp", "goal"):
        bins = seen["out"]["timeline"][kind]["bins"]
        want = expected_timeline(matches, by=kind)
        got = {b: v["row"] for b, v in bins.items() if v["row"]}
        assert got == want, kind
        for v in bins.values():
            assert v["total"] == sum(v["row"].values())
            assert v["title"].endswith(f": {v['total']} unique TTPs" + (
                " (" + ", ".join(f"{s} {n}" for s, n in v["row"].items()) + ")" if v["row"] else ""))
        # bar heights are proportional to the values, one scale per chart (coordinates are rounded to 0.1)
        pairs = [(v["row"][s], h) for v in bins.values() for s, h in v["heights"].items()]
        top_v, top_h = max(pairs)
        assert all(abs(h - n * top_h / top_v) <= 0.11 for n, h in pairs), pairs
        starts = sorted(bins)
        assert len(starts) == len(set(starts)) and starts == sorted(want.keys() | set(starts))


def test_tabs_work_by_keyboard(seen):
    assert seen["out"]["tabs"] == {"goalShown": True, "ttpHidden": True, "focused": "tab-goal", "selected": "true"}


def test_every_match_is_reachable_with_its_provenance(seen, sim_run):
    matches = read_matches(sim_run["matches"])
    out = seen["out"]
    assert out["pages"] == math.ceil(len(matches) / PAGE_SIZE)
    assert set(out["seen"]) == {m["match_id"] for m in matches}
    assert len(out["order"]) == len(matches)
    by_id = {m["match_id"]: m for m in matches}
    for mid, view in out["seen"].items():
        m = by_id[mid]
        assert view["open"] and view["focusable"], mid
        assert view["events"] == provenance_event_ids(m["provenance"]), mid
        assert m["rule"] in view["summary"] and m["fingerprint"] in view["text"]
        kind = m["provenance"]["kind"]
        assert f"Provenance ({kind})" in view["headings"], mid
        for step in m["provenance"].get("steps", []):
            assert any(h.startswith(f"Step {step['step']}: {step['count']} event(s)") for h in view["headings"])
        for label in m["provenance"].get("values", {}):
            # Long labels (an aggregate's expanded condition) are cut for the page, saying so.
            assert clip(label, CLIP_KEY_CHARS) in view["text"], (mid, label)
        for a in m["provenance"].get("absences", []):
            assert a["name"] in view["text"] and "not seen" in view["text"]


def test_a_campaign_anchor_opens_it_with_links_to_its_stages(seen, sim_run):
    matches = read_matches(sim_run["matches"])
    campaigns = [m for m in matches if m["ttp"] == "campaign"]
    assert campaigns, "the simulated run should hold a campaign match"
    hop = seen["out"]["hash"]
    camp = next(m for m in campaigns if m["match_id"] == hop["id"])
    assert hop["open"] and hop["focused"] == "SUMMARY"
    assert hop["cites"] == provenance_event_ids(camp["provenance"])


def test_filter_by_rule(seen, sim_run):
    f = seen["out"]["filter"]
    n = sum(1 for m in read_matches(sim_run["matches"]) if m["rule"] == f["rule"])
    total = len(read_matches(sim_run["matches"]))
    assert f["status"] == f"Matches 1–{min(n, PAGE_SIZE)} of {n} (filtered from {total}), page 1 of " \
                          f"{math.ceil(n / PAGE_SIZE)}"
    assert set(f["rules"]) == {f["rule"]}


def test_an_anchor_clears_the_filters_that_hide_its_match(seen, sim_run):
    hidden = seen["out"]["hidden"]
    n = len(read_matches(sim_run["matches"]))
    assert hidden["open"] and hidden["rule"] == ""
    assert hidden["status"].startswith("Matches ") and f" of {n}, page " in hidden["status"]


def test_an_actor_filters_to_its_matches_exactly(seen, sim_run):
    import json

    a = seen["out"]["actor"]
    actor = a["value"].strip('"')
    field, _, value = actor.partition("=")
    n = sum(1 for m in read_matches(sim_run["matches"])
            if field in m["key"] and (m["key"][field] if isinstance(m["key"][field], str)
                                      else json.dumps(m["key"][field])).lower() == value.lower())
    total = len(read_matches(sim_run["matches"]))
    assert a["status"] == f"Matches 1–{min(n, PAGE_SIZE)} of {n} (filtered from {total}), page 1 of " \
                          f"{math.ceil(n / PAGE_SIZE)}"
    assert a["focused"] == "m-status" and all(actor in k.split(" ") for k in a["keys"])


def test_screenshots_light_and_dark(chromium, sim_run, tmp_path_factory):
    shots = tmp_path_factory.mktemp("screenshots")
    for name, extra in (("report-light.png", []), ("report-dark.png", ["--force-dark-mode"])):
        out = shots / name
        proc = browse(chromium, sim_run["report"], "--window-size=1200,1800", f"--screenshot={out}", *extra)
        assert proc.returncode == 0, proc.stderr[-2000:]
        data = out.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000
        assert int.from_bytes(data[16:20], "big") == 1200
        keep = os.environ.get("SLEUTH_TEST_ARTEFACTS")
        if keep:
            Path(keep).mkdir(parents=True, exist_ok=True)
            shutil.copy(out, Path(keep) / name)


def test_hostile_values_stay_text_in_the_browser(chromium, tmp_path):
    from test_report_escape import XSS, hostile_matches

    page, _r = render_report(hostile_matches(), title=XSS[1])
    path = tmp_path / "hostile.html"
    path.write_bytes(page)
    result, stderr = harness_result(chromium, path, tmp_path)
    assert result["pwned"] is None and result["injected"] == 0
    assert result["errors"] == [] and result["csp"] == [] and console_lines(stderr) == []
    summaries = " ".join(v["summary"] for v in result["out"]["seen"].values())
    assert "rule0</script><script>window.__pwned=1</script>" in summaries
    assert len(result["out"]["seen"]) == len(hostile_matches())
