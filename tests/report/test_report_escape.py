"""Hostile match values never become markup or script in the report page.

Every string a match carries (rule, title, key names and values, emitted
fields, step names, event ids, technique, severity, fingerprint, flags) is
set to HTML/JS-injection text, plus a 1 MB string; the page is parsed and
must hold only the report's own tags, no event-handler attributes, exactly
its two scripts, a JSON block that parses back to the hostile text (clipped),
and stay small.
"""

from __future__ import annotations

import html.parser
import re

import orjson
import pytest

from sleuth.playground.report import render_report

XSS = [
    "</script><script>window.__pwned=1</script>",
    '"><img src=x onerror="window.__pwned=2">',
    "<svg onload=window.__pwned=3>",
    "'><iframe src=javascript:window.__pwned=4>",
    "<!-- <style>body{display:none}</style>",
    "\u2028\u2029&amp;&lt;",
]
HUGE = "A" * 1_000_000 + "</script><b>tail</b>"

ALLOWED_TAGS = {
    "html", "head", "meta", "title", "style", "body", "a", "header", "h1", "h2", "h3", "p", "nav", "ul", "li",
    "main", "section", "div", "button", "figure", "svg", "desc", "g", "line", "text", "rect", "path", "circle",
    "figcaption", "details", "summary", "table", "caption", "thead", "tbody", "tfoot", "tr", "th", "td", "span",
    "code", "br", "strong", "noscript", "form", "label", "select", "option", "input", "ol", "script",
}


def hostile_matches() -> list[dict]:
    out = []
    for i, x in enumerate(XSS):
        t = f"2026-11-27T08:0{i}:00.000Z"
        out.append({
            "match_id": f"{i + 1:016x}", "rule": f"rule{i}{x}", "ttp": x, "goal": x, "severity": x, "title": x,
            "key": {x: x, "src_ip": x}, "first_ts": t, "last_ts": t, "emitted_at": t,
            "fields": {x: x, "huge": HUGE, "nested": [[[[[[[[[[x]]]]]]]]]]}, "fingerprint": x, "flags": [x],
            "provenance": {"kind": "sequence", "within": x, "steps": [
                {"step": x, "count": 1, "omitted": 0, "events": [{"id": x, "ts": x, "fields": {x: HUGE}}]}],
                "absences": [{"name": x, "between": [x, x], "seen": False}], x: x},
        })
    out.append({**out[0], "match_id": "00000000000000ff", "rule": "campaign" + XSS[1], "ttp": "campaign",
                "provenance": {"kind": "sequence", "within": "1h", "steps": [
                    {"step": XSS[2], "count": 1, "omitted": 0,
                     "events": [{"id": f"{1:016x}", "ts": "2026-11-27T08:00:00.000Z", "fields": {}}]}]}})
    return out


class Collect(html.parser.HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str | None]] = []
        self.scripts: list[dict] = []
        self._in_script: dict | None = None

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attrs.extend(attrs)
        if tag == "script":
            self._in_script = {"attrs": dict(attrs), "text": ""}
            self.scripts.append(self._in_script)

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = None

    def handle_data(self, data):
        if self._in_script is not None:
            self._in_script["text"] += data


@pytest.fixture(scope="module")
def page() -> tuple[bytes, dict]:
    return render_report(hostile_matches(), title=XSS[0])


def test_only_the_reports_own_markup(page):
    body, _r = page
    p = Collect()
    p.feed(body.decode("utf-8"))
    assert set(p.tags) <= ALLOWED_TAGS, set(p.tags) - ALLOWED_TAGS
    assert not [a for a in p.attrs if a[0].startswith("on")]
    urls = [v for k, v in p.attrs if k in ("href", "src", "action", "formaction", "xlink:href")]
    assert not [u for u in urls if "javascript:" in (u or "").lower()]
    assert [s["attrs"] for s in p.scripts] == [{"type": "application/json", "id": "sleuth-data"}, {}]
    assert "img" not in p.tags and "iframe" not in p.tags
    hrefs = [v for k, v in p.attrs if k == "href"]
    assert all(re.fullmatch(r"#[a-z-]+|#m-[0-9a-f]{16}", h) for h in hrefs), hrefs


def test_the_data_block_holds_the_text_clipped(page):
    body, _r = page
    p = Collect()
    p.feed(body.decode("utf-8"))
    raw = p.scripts[0]["text"]
    assert "<" not in raw and ">" not in raw and "&" not in raw
    data = orjson.loads(raw)
    m = data["matches"][0]
    assert m["rule"] == "rule0" + XSS[0] and m["key"]["src_ip"] == XSS[0]
    assert m["fields"]["huge"].startswith("A" * 300 + "… [1,000,020 characters in all]")
    assert len(m["fields"]["huge"]) < 400
    assert "[nested deeper than the report shows]" in orjson.dumps(m["fields"]["nested"]).decode()


def test_the_page_stays_small_and_names_the_hostile_values_as_text(page):
    body, _r = page
    assert len(body) < 200_000
    text = body.decode("utf-8")
    assert "&lt;/script&gt;&lt;script&gt;window.__pwned=1&lt;/script&gt;" in text
    assert "<title>&lt;/script&gt;" in text
    assert text.count("<script") == 2 and text.count("</script>") == 2


def test_content_security_policy_allows_nothing_from_outside(page):
    body, _r = page
    csp = re.search(rb'http-equiv="Content-Security-Policy" content="([^"]+)"', body).group(1).decode()
    assert csp.startswith("default-src 'none'; script-src 'sha256-")
    assert "unsafe-inline" not in csp and "http" not in csp


def test_lone_surrogates_and_huge_ints_in_memory_do_not_break_the_page():
    m = hostile_matches()[0]
    m = {**m, "key": {"user": "a\ud800b"}, "fields": {"n": 10 ** 30, "obj": object()}}
    body, r = render_report([m])
    assert r["summary"]["matches"] == 1
    assert b"a\\\\ud800b" in body or b"a\\ud800b" in body
