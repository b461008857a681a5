"""Charts of `sleuth report` as inline SVG text: stacked bars, spark bars, bars, campaign lanes.

Drawn here rather than by a vendored charting library (docs/report.md says
why): the charts are a few hundred lines, the page needs no script to show
them, they print, and every mark carries its value (`data-v`, `<title>`) so
that tests read them back. Colours are CSS classes (`c-<n>` techniques,
`g-<n>` goals, `v-<n>` severities) that the stylesheet sets for light and
dark mode; no value from the input ever reaches an attribute unescaped, and
coordinates are rounded to 0.1 so the text is byte-stable.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence

from sleuth.engine.schema import GOALS, SEVERITIES, TTPS

__all__ = ["bars", "colour_class", "esc", "lanes", "nice_scale", "num", "spark_bars", "stacked_bars"]

_SEVERITY_ORDER = tuple(reversed(SEVERITIES))


def esc(value) -> str:
    """Text or attribute value, HTML-escaped (quotes included)."""
    return html.escape(str(value), quote=True)


def num(x: float) -> str:
    """A coordinate: at most one decimal, no trailing zeros (byte-stable)."""
    s = f"{x:.1f}"
    return s[:-2] if s.endswith(".0") else s


def colour_class(kind: str, name: str) -> str:
    """The CSS class of a technique (`ttp`), goal (`goal`) or severity (`severity`); `x` when unknown."""
    table = {"ttp": (TTPS, "c"), "goal": (GOALS, "g"), "severity": (_SEVERITY_ORDER, "v")}[kind]
    known, prefix = table
    return f"{prefix}-{known.index(name)}" if name in known else f"{prefix}-x"


def nice_scale(vmax: float) -> tuple[float, float]:
    """(top, step) of an axis from 0 showing `vmax`: steps of 1, 2 or 5 × 10^k, at most 5 ticks."""
    if vmax <= 0:
        return 1.0, 1.0
    raw = vmax / 5
    mag = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 5, 10):
        step = m * mag
        if step >= raw:
            break
    step = max(step, 1.0)
    return math.ceil(vmax / step) * step, step


def _tick_every(n: int, most: int = 10) -> int:
    return max(1, math.ceil(n / most))


def stacked_bars(*, chart_id: str, title: str, desc: str, bins: Sequence[str], labels: Sequence[str],
                 series: Sequence[str], kind: str, values: Sequence[Sequence[int]], unit: str,
                 span_labels: Sequence[str]) -> str:
    """A stacked bar chart: one bar per interval, one segment per series (zero segments left out).

    `bins` are the intervals' start times (ISO, in `data-bin`), `labels` the
    axis labels, `span_labels` the interval texts of the tooltips.
    """
    W, H, L, R, T, B = 900, 290, 48, 8, 24, 32
    pw, ph = W - L - R, H - T - B
    n = len(bins)
    totals = [sum(values[s][b] for s in range(len(series))) for b in range(n)]
    top, step = nice_scale(max(totals, default=0))
    out = [f'<svg id="{esc(chart_id)}" class="chart" viewBox="0 0 {W} {H}" role="img" '
           f'aria-labelledby="{esc(chart_id)}-t {esc(chart_id)}-d" data-series="{esc(",".join(series))}" '
           f'data-kind="{esc(kind)}">',
           f'<title id="{esc(chart_id)}-t">{esc(title)}</title>',
           f'<desc id="{esc(chart_id)}-d">{esc(desc)}</desc>',
           '<g class="axis">']
    v = 0.0
    while v <= top + 1e-9:
        y = T + ph - v / top * ph
        out.append(f'<line x1="{L}" x2="{W - R}" y1="{num(y)}" y2="{num(y)}"/>'
                   f'<text x="{L - 6}" y="{num(y + 4)}" text-anchor="end">{esc(_fmt_tick(v))}</text>')
        v += step
    every = _tick_every(n)
    bw = pw / n if n else pw
    for b in range(0, n, every):
        x = L + b * bw
        out.append(f'<line x1="{num(x)}" x2="{num(x)}" y1="{T + ph}" y2="{T + ph + 5}"/>'
                   f'<text x="{num(x)}" y="{T + ph + 18}" text-anchor="start">{esc(labels[b])}</text>')
    out.append(f'<text x="4" y="12" class="unit">{esc(unit)}</text></g>')
    gap = bw * 0.15 if bw >= 4 else 0.0
    for b in range(n):
        x = L + b * bw + gap / 2
        parts = [f"{series[s]} {values[s][b]}" for s in range(len(series)) if values[s][b]]
        tip = f"{span_labels[b]}: {totals[b]} {unit}" + (f" ({', '.join(parts)})" if parts else "")
        out.append(f'<g class="bar" data-bin="{esc(bins[b])}" data-total="{totals[b]}"><title>{esc(tip)}</title>')
        y = T + ph
        for s in range(len(series)):
            v = values[s][b]
            if not v:
                continue
            h = v / top * ph
            y -= h
            out.append(f'<rect x="{num(x)}" y="{num(y)}" width="{num(bw - gap)}" height="{num(h)}" '
                       f'class="{colour_class(kind, series[s])}" data-s="{s}" data-v="{v}"/>')
        out.append("</g>")
    out.append("</svg>")
    return "".join(out)


def _fmt_tick(v: float) -> str:
    return f"{v:,.0f}" if abs(v - round(v)) < 1e-9 else f"{v:g}"


def spark_bars(values: Sequence[int], label: str, width: int = 180, height: int = 26) -> str:
    """A small bar strip of counts per interval (one path), labelled for screen readers."""
    n = len(values)
    vmax = max(values, default=0)
    bw = width / n if n else width
    d = []
    for i, v in enumerate(values):
        if not v:
            continue
        h = max(1.0, v / vmax * (height - 2))
        d.append(f"M{num(i * bw)} {height}v-{num(h)}h{num(max(bw - 0.6, 0.6))}v{num(h)}z")
    return (f'<svg class="spark" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
            f'role="img" aria-label="{esc(label)}"><line x1="0" x2="{width}" y1="{height - 0.5}" '
            f'y2="{height - 0.5}"/><path d="{"".join(d)}"/></svg>')


def bars(*, chart_id: str, title: str, desc: str, rows: Sequence[tuple[str, int, str]], unit: str) -> str:
    """Horizontal bars: `rows` of (label, value, css class)."""
    W, rh, L, R = 600, 28, 110, 70
    H = rh * len(rows) + 8
    vmax = max((v for _l, v, _c in rows), default=0) or 1
    out = [f'<svg id="{esc(chart_id)}" class="chart bars" viewBox="0 0 {W} {H}" role="img" '
           f'aria-labelledby="{esc(chart_id)}-t {esc(chart_id)}-d">',
           f'<title id="{esc(chart_id)}-t">{esc(title)}</title><desc id="{esc(chart_id)}-d">{esc(desc)}</desc>']
    for i, (label, v, cls) in enumerate(rows):
        y = 4 + i * rh
        w = v / vmax * (W - L - R)
        out.append(f'<g data-label="{esc(label)}" data-v="{v}"><title>{esc(label)}: {v:,} {esc(unit)}</title>'
                   f'<text x="{L - 8}" y="{num(y + rh / 2 + 4)}" text-anchor="end">{esc(label)}</text>'
                   f'<rect x="{L}" y="{num(y + 4)}" width="{num(max(w, 1))}" height="{rh - 8}" class="{cls}"/>'
                   f'<text x="{num(L + max(w, 1) + 6)}" y="{num(y + rh / 2 + 4)}">{v:,}</text></g>')
    out.append("</svg>")
    return "".join(out)


def lanes(*, chart_id: str, title: str, desc: str, rows: Sequence[dict], t0: float, t1: float,
          tick_labels: Sequence[tuple[float, str]]) -> str:
    """One lane per campaign match: the matches it cites as dots on the time axis, then itself.

    `rows`: dicts with `label`, `href` (a `#m-<id>` anchor or None), `t`
    (epoch), `ttp`, `tip`, and `points` (dicts with `t`, `ttp`, `tip`).
    """
    W, L, R, T, B = 900, 230, 40, 8, 26
    rh = 40 if len(rows) <= 10 else 26      # room for step names under the dots of a few lanes
    H = T + rh * len(rows) + B
    pw = W - L - R
    span = (t1 - t0) or 1.0

    def x(t: float) -> float:
        return L + (t - t0) / span * pw

    out = [f'<svg id="{esc(chart_id)}" class="chart lanes" viewBox="0 0 {W} {H}" role="img" '
           f'aria-labelledby="{esc(chart_id)}-t {esc(chart_id)}-d">',
           f'<title id="{esc(chart_id)}-t">{esc(title)}</title><desc id="{esc(chart_id)}-d">{esc(desc)}</desc>',
           '<g class="axis">']
    for t, label in tick_labels:
        out.append(f'<line x1="{num(x(t))}" x2="{num(x(t))}" y1="{T}" y2="{T + rh * len(rows)}"/>'
                   f'<text x="{num(x(t))}" y="{H - 8}" text-anchor="middle">{esc(label)}</text>')
    out.append("</g>")
    for i, row in enumerate(rows):
        cy = T + i * rh + (14 if rh == 40 else rh / 2)
        pts = sorted(row["points"], key=lambda p: p["t"])
        link_open = f'<a href="{esc(row["href"])}">' if row.get("href") else ""
        out.append(f'<g class="lane">{link_open}<text x="{L - 8}" y="{num(cy + 4)}" text-anchor="end">'
                   f'{esc(row["label"])}</text>{"</a>" if link_open else ""}')
        xs = [x(p["t"]) for p in pts] + [x(row["t"])]
        if len(xs) > 1:
            out.append(f'<line class="link" x1="{num(min(xs))}" x2="{num(max(xs))}" y1="{num(cy)}" y2="{num(cy)}"/>')
        for p in pts:
            out.append(f'<circle cx="{num(x(p["t"]))}" cy="{num(cy)}" r="5" class="{colour_class("ttp", p["ttp"])}">'
                       f'<title>{esc(p["tip"])}</title></circle>')
            if rh == 40 and p.get("step"):
                out.append(f'<text class="step" x="{num(x(p["t"]))}" y="{num(cy + 19)}" text-anchor="middle">'
                           f'{esc(p["step"])}</text>')
        cx = x(row["t"])
        out.append(f'<path d="M{num(cx)} {num(cy - 7)}l7 7l-7 7l-7 -7z" class="{colour_class("ttp", row["ttp"])} '
                   f'camp"><title>{esc(row["tip"])}</title></path></g>')
    out.append("</svg>")
    return "".join(out)
