"""The page of `sleuth report`: one self-contained HTML file from the figures of `aggregate.py`.

Charts are inline SVG (`svg.py`), tables are their text alternatives, the
match list and its drill-down are drawn by a small script from a JSON block.
Nothing is fetched: a Content-Security-Policy allows no network at all and
only the page's own script and stylesheet (by hash), so even a value that
slipped through escaping could not run. Every input value goes through
`esc()` here, or `textContent` in the script; the JSON block escapes `<`,
`>` and `&`. The same figures give the same bytes.
"""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime
from importlib import resources

import orjson

from sleuth.engine.schema import GOALS, SEVERITIES, TTPS

from .inputs import SKIP_REASONS, as_time
from .svg import bars, colour_class, esc, lanes, spark_bars, stacked_bars

__all__ = ["PAGE_SIZE", "render_html"]

PAGE_SIZE = 25
LANE_ROWS = 30
FLAG_MEANING = {
    "evicted": "the rule evicted keys within this match's span: its state may be incomplete",
    "window-folded": "a sliding window passed its event limit: its oldest events are kept as time slices "
                     "(values exact)",
    "window-sliced": "a slice straddling the window's start was counted whole",
    "window-capped": "a sequence's aggregate step hit its event limit",
    "distinct-capped": "a distinct/entropy/sample table hit its limit",
    "first-seen-capped": "first_seen() memory hit its limit: a value may be new again",
    "suppression-capped": "the suppression table hit its limit: a match may have repeated",
    "unique-evicted": "a '| unique' pipe forgot values: a repeat may have passed",
}
_SEVERITY_ORDER = tuple(reversed(SEVERITIES))


def _asset(name: str) -> str:
    return resources.files("sleuth.playground.report").joinpath("assets", name).read_text(encoding="utf-8")


def _sha256(text: str) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode()


def _json_block(value) -> str:
    blob = orjson.dumps(value, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)
    return (blob.replace(b"&", b"\\u0026").replace(b"<", b"\\u003c").replace(b">", b"\\u003e")
            .decode("utf-8"))


def _dt(iso: str | None) -> datetime | None:
    t = as_time(iso)
    return datetime.fromtimestamp(t, UTC) if t is not None else None


def when(iso: str | None) -> str:
    """`2026-11-27 08:05:25Z` (milliseconds only when not zero)."""
    if not isinstance(iso, str):
        return "–"
    return iso.replace("T", " ").replace(".000Z", "Z")


def _clock(r: dict):
    """Times in tables: `08:06:27` when the report spans one UTC day (its date is in the header), else
    `11-27 08:06:27`, else (another year) the full date."""
    first, last = r["summary"]["first"] or "", r["summary"]["last"] or ""

    def fmt(iso) -> str:
        if not isinstance(iso, str) or len(iso) < 19:
            return "–"
        if first[:10] == last[:10]:
            return iso[11:19]
        if first[:4] == last[:4]:
            return f"{iso[5:10]} {iso[11:19]}"
        return f"{iso[:10]} {iso[11:19]}"
    return fmt


def _labeller(bins: list[str], seconds: float):
    """Axis label of an interval start: as short as the span allows."""
    days = {b[:10] for b in bins}
    if seconds >= 86400:
        return lambda iso: iso[:10]
    if len(days) <= 1:
        return lambda iso: iso[11:16] if seconds >= 60 else iso[11:19]
    return lambda iso: f"{iso[5:10]} {iso[11:16]}"


def _span_text(start: str, seconds: float) -> str:
    s = _dt(start)
    if s is None:
        return start
    e = datetime.fromtimestamp(s.timestamp() + seconds, UTC)
    fmt = "%Y-%m-%d" if seconds >= 86400 else "%Y-%m-%d %H:%M" if seconds >= 60 else "%Y-%m-%d %H:%M:%S"
    efmt = "%Y-%m-%d" if seconds >= 86400 else "%H:%M" if seconds >= 60 else "%H:%M:%S"
    return f"{s.strftime(fmt)}–{e.strftime(efmt)} UTC"


def _sw(kind: str, name: str) -> str:
    return f'<span class="sw {colour_class(kind, name)}" aria-hidden="true"></span>'


def _tag(kind: str, name: str) -> str:
    """A swatch and its name, kept on one line."""
    return f'<span class="nowrap">{_sw(kind, name)}{esc(name)}</span>'


def _pct(x) -> str:
    return "–" if x is None else f"{x * 100:.1f} %"


def _ratio(x) -> str:
    return "–" if x is None else f"{x:.2f}"


def _filter_link(kind: str, value: str, text: str) -> str:
    return f'<a href="#matches" data-filter="{esc(kind)}" data-value="{esc(value)}">{esc(text)}</a>'


# ---------------------------------------------------------------- sections


def _header(r: dict) -> str:
    s = r["summary"]
    if s["matches"]:
        lede = (f"{s['matches']:,} matches of {s['rules']:,} rules, {s['techniques']} techniques, "
                f"{s['unique']:,} unique TTPs (distinct fingerprints), decided between "
                f"{esc(when(s['first']))} and {esc(when(s['last']))}.")
    else:
        lede = "No matches in the input."
    toc = [("timeline", "Unique TTPs"), ("rules", "Rules over time"), ("severity", "Severity"),
           ("actors", "Actors"), ("campaigns", "Campaigns"), ("matches", "Matches")]
    if r.get("evaluation") is not None:
        toc.append(("evaluation", "Evaluation"))
    toc += [("input", "What the run could not see"), ("about", "About")]
    links = "".join(f'<li><a href="#{k}">{esc(v)}</a></li>' for k, v in toc)
    return (f'<header><h1>{esc(r["title"])}</h1><p class="lede">{lede}</p>'
            f'<nav class="toc" aria-label="Sections"><ul>{links}</ul></nav></header>')


def _warnings(r: dict) -> str:
    out = []
    s, d = r["summary"], r["detail"]
    if s["skipped"]:
        out.append(f'<p class="warn" role="note">{s["skipped"]:,} line(s) of the matches input are not match '
                   f'records and were skipped; see <a href="#skipped">skipped lines</a>.</p>')
    if d["shown"] < d["total"]:
        out.append(f'<p class="warn" role="note">The page holds the provenance of {d["shown"]:,} of '
                   f'{d["total"]:,} matches (a budget of {d["budget"]:,} bytes keeps it small enough to mail); '
                   f'every match is counted in every chart and table. Raise <code>--detail-bytes</code> or '
                   f'report on fewer matches to drill into the others.</p>')
    return "".join(out)


def _timeline(r: dict) -> str:
    iv = r["interval"]
    bins = iv["bins"]
    label = _labeller(bins, iv["seconds"])
    labels = [label(b) for b in bins]
    spans = [_span_text(b, iv["seconds"]) for b in bins]
    parts = [f'<section id="timeline" aria-labelledby="timeline-h"><h2 id="timeline-h">Unique TTPs over time</h2>'
             f'<p>Distinct TTP fingerprints (a rule and its fingerprint values, by default its key) among the '
             f'matches decided in each {esc(iv["label"])} interval: how many different attack variants were '
             f'seen, however often each repeated. Attackers who retool show up as new fingerprints.</p>']
    if not bins:
        parts.append('<p class="note">No matches: nothing to draw.</p></section>')
        return "".join(parts)
    parts.append('<div class="tabs" role="tablist" aria-label="Group unique TTPs by">'
                 '<button type="button" role="tab" id="tab-ttp" aria-controls="panel-ttp" aria-selected="true">'
                 'By technique</button><button type="button" role="tab" id="tab-goal" aria-controls="panel-goal" '
                 'aria-selected="false">By end goal</button></div>')
    for kind, name in (("ttp", "technique"), ("goal", "end goal")):
        tl = r["timeline"][kind]
        ckind = "ttp" if kind == "ttp" else "goal"
        total = tl["overall_distinct"]
        svg = stacked_bars(
            chart_id=f"timeline-{kind}", title=f"Unique TTPs per {iv['label']} interval, by {name}",
            desc=(f"Stacked bars, one per interval from {when(bins[0])}; {total:,} distinct fingerprints in all. "
                  f"The table below gives every value."),
            bins=bins, labels=labels, series=tl["series"], kind=ckind, values=tl["values"],
            unit="unique TTPs", span_labels=spans)
        legend = "".join(f'<li>{_sw(ckind, s)}{esc(s)} <span class="note">{tl["overall"][s]:,}</span></li>'
                         for s in tl["series"])
        head = "".join(f'<th scope="col" class="n">{esc(s)}</th>' for s in tl["series"])
        rows = []
        for b, start in enumerate(bins):
            cells = "".join(f'<td class="n">{tl["values"][i][b]}</td>' for i in range(len(tl["series"])))
            rows.append(f'<tr data-bin="{esc(start)}"><th scope="row" class="mono">{esc(spans[b])}</th>'
                        f'<td class="n">{tl["matches"][b]}</td><td class="n">{tl["distinct"][b]}</td>{cells}</tr>')
        foot = "".join(f'<td class="n">{tl["overall"][s]}</td>' for s in tl["series"])
        parts.append(
            f'<div role="tabpanel" id="panel-{kind}" aria-labelledby="tab-{kind}" tabindex="0">'
            f'<figure>{svg}<figcaption>Unique TTPs per interval, stacked by {esc(name)}.</figcaption>'
            f'<ul class="legend" aria-label="Legend: {esc(name)} and its distinct fingerprints in all">{legend}</ul>'
            f'</figure><details><summary>Table: unique TTPs per interval by {esc(name)}</summary>'
            f'<div class="scroll"><table id="table-timeline-{kind}"><caption>Distinct fingerprints per '
            f'{esc(iv["label"])} interval (the last row: over the whole input)</caption><thead><tr>'
            f'<th scope="col">interval</th><th scope="col" class="n">matches</th>'
            f'<th scope="col" class="n">unique TTPs</th>{head}</tr></thead><tbody>{"".join(rows)}</tbody>'
            f'<tfoot><tr><th scope="row">all</th><td class="n">{sum(tl["matches"])}</td>'
            f'<td class="n">{total}</td>{foot}</tr></tfoot></table></div></details></div>')
    parts.append("</section>")
    return "".join(parts)


def _rules(r: dict) -> str:
    iv = r["interval"]
    bins = iv["bins"]
    label = _labeller(bins, iv["seconds"])
    ev = r.get("evaluation")
    per_rule_eval = (ev or {}).get("per_rule", {})
    head = ('<tr><th scope="col">rule</th><th scope="col">technique</th><th scope="col">severity</th>'
            '<th scope="col" class="n">matches</th><th scope="col" class="n">unique TTPs</th>'
            f'<th scope="col">per {esc(iv["label"])}</th><th scope="col">first – last</th>'
            '<th scope="col">flags</th>' +
            ('<th scope="col" class="n">right technique</th><th scope="col" class="n">false alarms</th>'
             if ev is not None else "") + "</tr>")
    rows, counts = [], []
    clock = _clock(r)
    for x in r["rules"]:
        peak = max(x["bins"], default=0)
        at = label(bins[x["bins"].index(peak)]) if peak else ""
        nz = sum(1 for v in x["bins"] if v)
        spark = spark_bars(x["bins"], f"{x['matches']} matches in {nz} of {len(bins)} intervals; "
                                      f"at most {peak} in one ({at})")
        where = (f'<br><span class="note mono">{esc(x["file"])}:{esc(x["line"])}</span>'
                 if x.get("file") else "")
        flags = ", ".join(f"{esc(k)} {v}" for k, v in x["flags"].items()) or ""
        extra = ""
        if ev is not None:
            pe = per_rule_eval.get(x["rule"], {})
            extra = (f'<td class="n">{pe.get("correct_ttp", 0)}</td>'
                     f'<td class="n">{pe.get("false", 0)}</td>')
        rows.append(
            f'<tr><th scope="row">{_filter_link("rule", x["rule"], x["rule"])}<br>'
            f'<span class="note title">{esc(x["title"])}</span>{where}</th>'
            f'<td>{_tag("ttp", x["ttp"])}</td><td>{_tag("severity", x["severity"])}</td>'
            f'<td class="n">{x["matches"]:,}</td><td class="n">{x["unique"]:,}</td>'
            f'<td>{spark}</td><td class="mono nowrap">{esc(clock(x["first"]))}<br>{esc(clock(x["last"]))}</td>'
            f'<td class="flag">{flags}</td>{extra}</tr>')
        text = " · ".join(f"{label(bins[i])} {v}" for i, v in enumerate(x["bins"]) if v)
        counts.append(f'<tr><th scope="row">{esc(x["rule"])}</th><td>{esc(text)}</td></tr>')
    body = ("".join(rows) if rows else '<tr><td colspan="8">no matches</td></tr>')
    return (f'<section id="rules" aria-labelledby="rules-h"><h2 id="rules-h">Matches per rule over time</h2>'
            f'<p>Each rule\'s matches per {esc(iv["label"])} interval (bars on a common time axis, each '
            f'scaled to its own peak). A rule name shows its matches below.</p>'
            f'<div class="scroll"><table id="table-rules"><thead>{head}</thead><tbody>{body}</tbody></table></div>'
            f'<details><summary>Table: matches per rule and interval (intervals with matches)</summary>'
            f'<div class="scroll"><table><tbody>{"".join(counts)}</tbody></table></div></details></section>')


def _severity(r: dict) -> str:
    rows = [(x["severity"], x["matches"], colour_class("severity", x["severity"])) for x in r["severity"]]
    total = sum(x["matches"] for x in r["severity"]) or 1
    chart = bars(chart_id="severity-chart", title="Matches by severity",
                 desc="Horizontal bars, critical first; the table below gives the values.",
                 rows=rows, unit="matches") if rows else '<p class="note">No matches.</p>'
    trs = "".join(f'<tr><th scope="row">{_sw("severity", x["severity"])}{esc(x["severity"])}</th>'
                  f'<td class="n">{x["matches"]:,}</td><td class="n">{_pct(x["matches"] / total)}</td>'
                  f'<td class="n">{x["rules"]}</td><td class="n">{x["unique"]:,}</td></tr>' for x in r["severity"])
    return (f'<section id="severity" aria-labelledby="severity-h"><h2 id="severity-h">Severity mix</h2>'
            f'<figure>{chart}</figure><table id="table-severity"><thead><tr><th scope="col">severity</th>'
            f'<th scope="col" class="n">matches</th><th scope="col" class="n">share</th>'
            f'<th scope="col" class="n">rules</th><th scope="col" class="n">unique TTPs</th></tr></thead>'
            f'<tbody>{trs}</tbody></table></section>')


def _actors(r: dict) -> str:
    a = r["actors"]
    clock = _clock(r)
    rows = []
    for x in a["top"]:
        actor = f'{x["field"]}={x["value"]}'
        techs = ", ".join(f'{_tag("ttp", t)} {n}' for t, n in x["ttps"])
        exact = '"' + actor + '"'      # the search box's quoted form: that key value exactly
        rows.append(f'<tr><th scope="row" class="mono">{_filter_link("q", exact, actor)}</th>'
                    f'<td class="n">{x["matches"]:,}</td><td>{techs}</td><td class="n">{x["rules"]}</td>'
                    f'<td class="mono nowrap">{esc(clock(x["first"]))}<br>{esc(clock(x["last"]))}</td></tr>')
    body = "".join(rows) or '<tr><td colspan="5">no keyed matches</td></tr>'
    return (f'<section id="actors" aria-labelledby="actors-h"><h2 id="actors-h">Top actors</h2>'
            f'<p>Key values of the matches (the rules\' <code>by</code> fields: addresses, networks, users, '
            f'sessions, fingerprints), most matches first, with the techniques they were seen doing. '
            f'{len(a["top"])} of {a["total"]:,} distinct key values.</p>'
            f'<div class="scroll"><table id="table-actors"><thead><tr><th scope="col">actor</th>'
            f'<th scope="col" class="n">matches</th><th scope="col">techniques (matches)</th>'
            f'<th scope="col" class="n">rules</th><th scope="col">first – last</th></tr></thead>'
            f'<tbody>{body}</tbody></table></div></section>')


def _campaigns(r: dict, held: set[str]) -> str:
    c = r["campaigns"]
    head = (f'<section id="campaigns" aria-labelledby="campaigns-h"><h2 id="campaigns-h">Campaigns: rules over '
            f'rules</h2><p>Matches of rules that read other rules\' matches (<code>from matches</code>): the '
            f'stages they tie together, in time. {c["total"]:,} campaign match(es).</p>')
    if not c["rows"]:
        return head + '<p class="note">No campaign matches.</p></section>'

    def link(mid: str, text: str) -> str:
        return f'<a href="#m-{esc(mid)}">{esc(text)}</a>' if mid in held else esc(text)

    lane_rows, ts = [], []
    for row in c["rows"][:LANE_ROWS]:
        key = " ".join(f"{k}={v}" for k, v in row["key"])
        t = as_time(row["t"])
        pts = [{"t": as_time(s["t"]), "ttp": s["ttp"], "step": s["step"][:16],
                "tip": f'{s["step"] or "cited"}: {s["rule"]} ({s["ttp"]}) at {when(s["t"])}'} for s in row["steps"]]
        ts += [t] + [p["t"] for p in pts]
        lane_rows.append({"label": f'{row["rule"][:28]} {key[:18]}', "t": t, "ttp": row["ttp"],
                          "href": f'#m-{row["match_id"]}' if row["match_id"] in held else None,
                          "tip": f'{row["rule"]} ({row["ttp"]}) decided at {when(row["t"])}, {key}',
                          "points": pts})
    t0, t1 = min(ts), max(ts)
    if t1 - t0 < 60:
        t0, t1 = t0 - 30, t1 + 30
    ticks = []
    for i in range(6):
        t = t0 + (t1 - t0) * i / 5
        d = datetime.fromtimestamp(t, UTC)
        ticks.append((t, d.strftime("%H:%M" if t1 - t0 < 86400 else "%m-%d %H:%M")))
    chart = lanes(chart_id="campaign-chart", title="Campaign matches and the stages they cite",
                  desc="One lane per campaign match: dots are the cited matches, coloured by technique; the "
                       "diamond is the campaign match. The table below lists the same.",
                  rows=lane_rows, t0=t0, t1=t1, tick_labels=ticks)
    rows = []
    clock = _clock(r)
    for row in c["rows"]:
        key = " ".join(f"{k}={v}" for k, v in row["key"])
        chain = "<br>".join(f'<span class="mono">{esc(clock(s["t"]))}</span> {esc(s["step"] or "cited")}: '
                            f'{link(s["match_id"], s["rule"])} ({_sw("ttp", s["ttp"])}{esc(s["ttp"])})'
                            for s in row["steps"])
        rows.append(f'<tr><td class="mono nowrap">{esc(clock(row["t"]))}</td><th scope="row">'
                    f'{link(row["match_id"], row["rule"])}</th><td class="mono">{esc(key)}</td>'
                    f'<td>{chain or esc(row["why"])}</td></tr>')
    more = (f'<p class="note">The first {len(c["rows"])} of {c["total"]:,} are listed.</p>'
            if c["total"] > len(c["rows"]) else "")
    return (head + f'<figure>{chart}</figure><div class="scroll"><table id="table-campaigns"><thead><tr>'
            f'<th scope="col">decided</th><th scope="col">rule</th><th scope="col">key</th>'
            f'<th scope="col">stages</th></tr></thead><tbody>{"".join(rows)}</tbody></table></div>{more}</section>')


def _matches(r: dict) -> str:
    d = r["detail"]
    held = r["matches"]
    rule_names = sorted({m["rule"] for m in held})
    ttps = sorted({(m.get("ttp") or r["rule_meta"].get(m["rule"], {}).get("ttp") or "?") for m in held},
                  key=lambda t: (TTPS.index(t) if t in TTPS else len(TTPS), t))
    sevs = sorted({(m.get("severity") or r["rule_meta"].get(m["rule"], {}).get("severity") or "?") for m in held},
                  key=lambda s: (_SEVERITY_ORDER.index(s) if s in _SEVERITY_ORDER else 9, s))

    def options(values) -> str:
        return '<option value="">all</option>' + "".join(f'<option value="{esc(v)}">{esc(v)}</option>'
                                                        for v in values)

    note = (f"All {d['total']:,} matches, with their provenance." if d["shown"] == d["total"]
            else f"{d['shown']:,} of {d['total']:,} matches, with their provenance (see the note at the top).")
    return (f'<section id="matches" aria-labelledby="matches-h"><h2 id="matches-h">Matches</h2>'
            f'<p>{note} Open a match for its evidence: the events of each step with the fields the rule read, '
            f'window values, absences, flags, and the rule. Newest last.</p>'
            f'<noscript><p class="warn">The match list is drawn by the page\'s script; with scripts off, the '
            f'charts and tables above still hold every figure.</p></noscript>'
            f'<div id="m-ui"><form id="filters" class="filters" role="search" aria-label="Filter matches">'
            f'<label for="f-rule">rule<select id="f-rule">{options(rule_names)}</select></label>'
            f'<label for="f-ttp">technique<select id="f-ttp">{options(ttps)}</select></label>'
            f'<label for="f-sev">severity<select id="f-sev">{options(sevs)}</select></label>'
            f'<label for="f-q">search (any text; "field=value" in quotes: that key exactly)<input id="f-q" type="search" '
            f'autocomplete="off"></label><button type="reset">Clear</button></form>'
            f'<p id="m-status" role="status" aria-live="polite" tabindex="-1"></p><ol id="m-list" class="matches"></ol>'
            f'<div id="pager" class="pager" role="group" aria-label="Pages of matches">'
            f'<button type="button" data-go="first">First</button><button type="button" data-go="prev">'
            f'Previous</button><button type="button" data-go="next">Next</button>'
            f'<button type="button" data-go="last">Last</button></div></div></section>')


def _evaluation(r: dict) -> str:
    ev = r.get("evaluation")
    if ev is None:
        return ""
    m = ev.get("matches", {})
    inst = ev.get("instances", {})
    fa = ev.get("false_alarms", {})
    figs = [("recall", _ratio(ev.get("recall")), f'{inst.get("detected_right_ttp", 0)} of '
                                                 f'{inst.get("instances", 0)} attack instances, right technique'),
            ("precision", _ratio(ev.get("precision")), f'{m.get("correct_ttp", 0)} of {m.get("total", 0)} matches'),
            ("precision, any technique", _ratio(ev.get("precision_any_ttp")), f'{m.get("attributed", 0)} on attack traffic'),
            ("false alarms", f'{fa.get("count", 0)}', f'{fa.get("per_hour") or 0:.2f} per hour'),
            ("time to detect (median)", _secs(inst.get("ttd_median_s")), f'p90 {_secs(inst.get("ttd_p90_s"))}')]
    fig = "".join(f'<li><span class="big">{esc(v)}</span>{esc(k)}<br><span class="note">{esc(n)}</span></li>'
                  for k, v, n in figs)
    rows = "".join(
        f'<tr><th scope="row">{_sw("ttp", t)}{esc(t)}</th><td class="n">{s["instances"]}</td>'
        f'<td class="n">{s["detected"]}</td><td class="n">{s["detected_right_ttp"]}</td>'
        f'<td class="n">{_ratio(s["recall"])}</td><td class="n">{_secs(s["ttd_median_s"])}</td>'
        f'<td class="n">{_secs(s["ttd_p90_s"])}</td></tr>' for t, s in ev.get("per_ttp", {}).items())
    inst_rows = "".join(
        f'<tr><th scope="row" class="mono">{esc(i.get("id"))}</th><td>{esc(i.get("generator"))}</td>'
        f'<td>{_sw("ttp", str(i.get("ttp")))}{esc(i.get("ttp"))}</td><td>{esc(i.get("difficulty"))}</td>'
        f'<td class="n">{i.get("matches", 0)}</td>'
        f'<td class="{"verdict-good" if i.get("detected_right_ttp") else "verdict-bad"}">'
        f'{"yes" if i.get("detected_right_ttp") else ("other technique" if i.get("detected") else "missed")}</td>'
        f'<td class="n">{_secs(i.get("ttd_s"))}</td><td>{esc(", ".join(map(str, i.get("rules") or [])))}</td></tr>'
        for i in ev.get("instance_detail", []))
    traps = ", ".join(f"{esc(k)} {v}" for k, v in sorted(fa.get("by_trap", {}).items(), key=lambda kv: (-kv[1], kv[0])))
    return (f'<section id="evaluation" aria-labelledby="evaluation-h"><h2 id="evaluation-h">Evaluation against '
            f'the simulator\'s labels</h2><p>Scored by <code>sleuth eval</code>\'s rules '
            f'(docs/detection.md) against <code>{esc(ev.get("labels") or "")}</code>. Each match in the list '
            f'shows its verdict: ✓ attributed to an attack instance with the right technique, ~ another '
            f'technique, ✗ false alarm.</p><ul class="figures">{fig}</ul>'
            f'<p>False alarms by benign trap: {traps or "none"}.</p>'
            f'<div class="scroll"><table id="table-eval-ttp"><caption>Recall per technique</caption><thead><tr>'
            f'<th scope="col">technique</th><th scope="col" class="n">instances</th>'
            f'<th scope="col" class="n">detected</th><th scope="col" class="n">right technique</th>'
            f'<th scope="col" class="n">recall</th><th scope="col" class="n">time to detect p50</th>'
            f'<th scope="col" class="n">p90</th></tr></thead><tbody>{rows}</tbody></table></div>'
            f'<details><summary>Attack instances ({len(ev.get("instance_detail", []))})</summary>'
            f'<div class="scroll"><table id="table-eval-instances"><thead><tr><th scope="col">instance</th>'
            f'<th scope="col">generator</th><th scope="col">technique</th><th scope="col">difficulty</th>'
            f'<th scope="col" class="n">matches</th><th scope="col">detected</th>'
            f'<th scope="col" class="n">time to detect</th><th scope="col">rules</th></tr></thead>'
            f'<tbody>{inst_rows}</tbody></table></div></details></section>')


def _secs(x) -> str:
    if x is None:
        return "–"
    if x < 120:
        return f"{x:.0f} s"
    if x < 7200:
        return f"{x / 60:.1f} min"
    return f"{x / 3600:.1f} h"


def _meter(share) -> str:
    w = 0 if share is None else max(0.0, min(1.0, share)) * 100
    return (f'<svg class="meter" viewBox="0 0 100 8" aria-hidden="true"><rect class="bg" width="100" height="8"/>'
            f'<rect class="fg" width="{w:.1f}" height="8"/></svg>')


def _input(r: dict) -> str:
    parts = ['<section id="input" aria-labelledby="input-h"><h2 id="input-h">What the run could not see</h2>']
    q = r.get("quarantine")
    parts.append('<h3 id="quarantine">Quarantine</h3>')
    if q is None:
        parts.append('<p class="note">No quarantine given (<code>--quarantine FILE</code> of '
                     '<code>sleuth run</code>).</p>')
    else:
        rows = []
        for x in q["by_reason"]:
            ex = "<br>".join(f'<span class="mono">{esc(e["source"])}:{esc(e["position"])}</span> '
                             f'{esc(e["detail"])} <code>{esc(e["excerpt"])}</code>' for e in x["examples"])
            rows.append(f'<tr><th scope="row" class="mono">{esc(x["reason"])}</th><td class="n">{x["count"]:,}</td>'
                        f'<td>{esc(x["meaning"])}</td><td>{ex}</td></tr>')
        parts.append(f'<p>{q["total"]:,} input record(s) set aside by the run, from '
                     f'{esc(", ".join(q["files"]))}.'
                     + (f' {q["unreadable_lines"]:,} line(s) of the quarantine file itself are unreadable.'
                        if q["unreadable_lines"] else "") + "</p>")
        if rows:
            parts.append(f'<div class="scroll"><table id="table-quarantine"><thead><tr><th scope="col">reason</th>'
                         f'<th scope="col" class="n">records</th><th scope="col">meaning</th>'
                         f'<th scope="col">examples</th></tr></thead><tbody>{"".join(rows)}</tbody></table></div>')
        if q["by_source"]:
            src = ", ".join(f'{esc(x["source"])} {x["count"]:,}' for x in q["by_source"])
            parts.append(f"<p>By input: {src}.</p>")
    flags = r.get("flags") or {}
    parts.append('<h3 id="flags">Matches with incomplete state</h3>')
    if flags:
        parts.append("<ul>" + "".join(f"<li><strong>{esc(k)}</strong>: {v:,} match(es); "
                                      f"{esc(FLAG_MEANING.get(k, ''))}</li>" for k, v in flags.items()) + "</ul>")
    else:
        parts.append('<p class="note">No match carries an eviction or cap flag.</p>')
    c = r.get("coverage")
    parts.append('<h3 id="coverage">Field coverage of the input</h3>')
    if c is None:
        parts.append('<p class="note">No events given (<code>--events FILE</code>): coverage unknown.</p>')
    else:
        parts.append(f'<p>{c["events"]:,} events from {esc(", ".join(c["files"]))}'
                     + (f', {esc(when(c["start"]))} to {esc(when(c["end"]))}' if c["start"] else "")
                     + '. A rule reading a field an event lacks is false for that event.</p>')
        if c["unreadable"]:
            parts.append("<p>Records the engine cannot read (quarantined by a run): " + ", ".join(
                f'<code>{esc(x["reason"])}</code> {x["count"]:,} ({esc(x["meaning"])})' for x in c["unreadable"])
                + ".</p>")
        rows = "".join(
            f'<tr><th scope="row" class="mono">{esc(x["field"])}</th><td class="n">{x["present"]:,}</td>'
            f'<td class="nowrap">{_meter(x["share"])} {_pct(x["share"])}</td><td class="n">{x["invalid"]:,}</td>'
            f'<td class="n">{x["missing"]:,}</td><td class="note">{esc(x["note"])}</td></tr>' for x in c["fields"])
        parts.append(f'<div class="scroll"><table id="table-coverage"><thead><tr><th scope="col">field</th>'
                     f'<th scope="col" class="n">events with it</th><th scope="col">share</th>'
                     f'<th scope="col" class="n">invalid value</th><th scope="col" class="n">missing</th>'
                     f'<th scope="col">note</th></tr></thead><tbody>{rows}</tbody></table></div>')
        for m, keys in c["sub_keys"].items():
            parts.append(f'<p><code>{esc(m)}</code> keys: ' +
                         ", ".join(f'<code>{esc(k["key"])}</code> {k["count"]:,}' for k in keys) + "</p>")
        if c["other_fields"]:
            parts.append("<p>Other top-level fields: " + ", ".join(
                f'<code>{esc(k["field"])}</code> {k["count"]:,}' for k in c["other_fields"]) + "</p>")
    sk = r["skipped"]
    parts.append('<h3 id="skipped">Skipped lines of the matches input</h3>')
    if not r["summary"]["skipped"] and not r["summary"]["duplicates"]:
        parts.append('<p class="note">None: every line is a match record.</p>')
    else:
        reasons = ", ".join(f'<code>{esc(k)}</code> {v:,} ({esc(SKIP_REASONS.get(k, ""))})'
                            for k, v in sk["by_reason"].items())
        if reasons:
            parts.append(f"<p>{reasons}.</p>")
        if r["summary"]["duplicates"]:
            parts.append(f'<p>{r["summary"]["duplicates"]:,} duplicate match id(s) counted once.</p>')
        if sk["examples"]:
            parts.append("<ul>" + "".join(f'<li><span class="mono">{esc(e["where"])}</span>: '
                                          f'<code>{esc(e["reason"])}</code> {esc(e["detail"])}</li>'
                                          for e in sk["examples"]) + "</ul>")
    parts.append("</section>")
    return "".join(parts)


def _about(r: dict, version: str) -> str:
    inputs = r["inputs"]
    rows = [("matches", ", ".join(inputs.get("matches") or []))]
    for k in ("events", "quarantine", "labels", "pack"):
        if inputs.get(k):
            v = inputs[k]
            rows.append((k, ", ".join(v) if isinstance(v, list) else str(v)))
    rows += [("interval", f'{r["interval"]["label"]} (UTC, aligned to multiples of the interval)'),
             ("provenance held", f'{r["detail"]["shown"]:,} of {r["detail"]["total"]:,} matches, '
                                 f'{r["detail"]["bytes"]:,} of {r["detail"]["budget"]:,} bytes'),
             ("written by", f"sleuth {version} (sleuth report)")]
    trs = "".join(f'<tr><th scope="row">{esc(k)}</th><td class="mono">{esc(v)}</td></tr>' for k, v in rows)
    return (f'<section id="about" aria-labelledby="about-h"><h2 id="about-h">About this report</h2>'
            f'<table><tbody>{trs}</tbody></table><p class="note">Self-contained: no network, no fonts or '
            f'scripts from elsewhere. Times are event times in UTC.</p></section>')


def render_html(r: dict, version: str = "unknown") -> bytes:
    """The page for the figures `r` of `build_report`; deterministic bytes."""
    css = _asset("report.css")
    js = _asset("report.js")
    held = {m["match_id"] for m in r["matches"]}
    cited = {}
    for row in r["campaigns"]["rows"]:
        for s in row["steps"]:
            cited[s["match_id"]] = {"rule": s["rule"], "ttp": s["ttp"], "t": s["t"]}
    for m in r["matches"]:
        meta = r["rule_meta"].get(m["rule"], {})
        if m["match_id"] in r.get("consumed_by", {}):
            cited.setdefault(m["match_id"], {"rule": m["rule"], "ttp": m.get("ttp") or meta.get("ttp"),
                                             "t": m.get("emitted_at")})
    used_rules = {m["rule"] for m in r["matches"]}
    data = {
        "matches": r["matches"],
        "rules": {k: v for k, v in r["rule_meta"].items() if k in used_rules},
        "consumed_by": r.get("consumed_by", {}),
        "cited": cited,
        "verdicts": (r.get("evaluation") or {}).get("verdicts", {}),
        "page_size": PAGE_SIZE,
        "ttps": list(TTPS), "goals": list(GOALS), "severities": list(_SEVERITY_ORDER),
        "flag_meaning": FLAG_MEANING,
        "same_day": (r["summary"]["first"] or "")[:10] == (r["summary"]["last"] or "")[:10],
    }
    csp = (f"default-src 'none'; script-src '{_sha256(js)}'; style-src '{_sha256(css)}'; img-src data:; "
           f"base-uri 'none'; form-action 'none'")
    page = "".join([
        '<!DOCTYPE html>\n<html lang="en" class="no-js"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{csp}">',   # constant text: no input in it
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<meta name="color-scheme" content="light dark">',
        f'<meta name="generator" content="sleuth {esc(version)}">',
        f"<title>{esc(r['title'])}</title><style>{css}</style></head><body>",
        '<a class="skip" href="#main">Skip to the report</a>',
        _header(r),
        '<main id="main">',
        _warnings(r), _timeline(r), _rules(r), _severity(r), _actors(r), _campaigns(r, held), _matches(r),
        _evaluation(r), _input(r), _about(r, version),
        "</main>",
        f'<script type="application/json" id="sleuth-data">{_json_block(data)}</script>',
        f"<script>{js}</script>",
        "</body></html>\n",
    ])
    return page.encode("utf-8")
