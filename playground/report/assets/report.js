/* sleuth report: tabs, the match list (filters, pages, drill-down into provenance).
   Input values only ever reach the page through textContent and checked attributes. */
(function () {
  "use strict";
  var root = document.documentElement;
  root.classList.remove("no-js");
  var data = JSON.parse(document.getElementById("sleuth-data").textContent);
  var MATCH_ID = /^[0-9a-f]{16}$/;

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) { e.className = cls; }
    if (text !== undefined && text !== null) { e.textContent = String(text); }
    return e;
  }
  function show(v) {
    if (v === null || v === undefined) { return "–"; }
    if (typeof v === "string") { return v; }
    return JSON.stringify(v);
  }
  function cls(list, prefix, name) {
    var i = list.indexOf(name);
    return prefix + "-" + (i < 0 ? "x" : String(i));
  }
  function when(ts) {
    return typeof ts === "string" ? ts.replace("T", " ").replace(/\.000Z$/, "Z") : show(ts);
  }
  function clock(ts) {
    return data.same_day && typeof ts === "string" && ts.length >= 23 ? ts.slice(11, 23) : when(ts);
  }
  function matchLink(id, text) {
    var a = el("a", null, text);
    if (MATCH_ID.test(id)) { a.href = "#m-" + id; }
    return a;
  }

  /* ---------------------------------------------------------------- tabs */
  Array.prototype.forEach.call(document.querySelectorAll("[role=tablist]"), function (list) {
    var tabs = Array.prototype.slice.call(list.querySelectorAll("[role=tab]"));
    function select(tab, focus) {
      tabs.forEach(function (t) {
        var on = t === tab;
        t.setAttribute("aria-selected", on ? "true" : "false");
        t.tabIndex = on ? 0 : -1;
        document.getElementById(t.getAttribute("aria-controls")).hidden = !on;
      });
      if (focus) { tab.focus(); }
    }
    tabs.forEach(function (t, i) {
      t.addEventListener("click", function () { select(t, false); });
      t.addEventListener("keydown", function (ev) {
        var j = null;
        if (ev.key === "ArrowRight") { j = (i + 1) % tabs.length; }
        else if (ev.key === "ArrowLeft") { j = (i - 1 + tabs.length) % tabs.length; }
        else if (ev.key === "Home") { j = 0; }
        else if (ev.key === "End") { j = tabs.length - 1; }
        if (j !== null) { ev.preventDefault(); select(tabs[j], true); }
      });
    });
    select(tabs[0], false);
  });

  /* ---------------------------------------------------------------- matches */
  var all = data.matches;
  var pos = Object.create(null);
  all.forEach(function (m, i) { pos[m.match_id] = i; });
  var rules = data.rules;
  function meta(m, k) {
    if (Object.prototype.hasOwnProperty.call(m, k)) { return m[k]; }
    var r = rules[m.rule];
    return r ? r[k] : null;
  }
  function pairs(m) {
    return Object.keys(m.key || {}).map(function (k) { return (k + "=" + show(m.key[k])).toLowerCase(); });
  }
  var keyPairs = all.map(pairs);
  var hay = all.map(function (m, i) {
    var parts = [m.match_id, m.rule, show(meta(m, "ttp")), show(meta(m, "title"))].concat(keyPairs[i]);
    parts.push(JSON.stringify(m.fields || {}));
    return parts.join(" \u0000 ").toLowerCase();
  });

  var list = document.getElementById("m-list");
  var status = document.getElementById("m-status");
  var form = document.getElementById("filters");
  var fRule = document.getElementById("f-rule");
  var fTtp = document.getElementById("f-ttp");
  var fSev = document.getElementById("f-sev");
  var fQ = document.getElementById("f-q");
  var pager = document.getElementById("pager");
  var size = data.page_size;
  var state = { page: 0, shown: [] };

  function filtered() {
    var rule = fRule.value, ttp = fTtp.value, sev = fSev.value, q = fQ.value.trim().toLowerCase();
    // "field=value" in double quotes: exactly that key value (an actor); otherwise any text
    var exact = q.length > 1 && q.charAt(0) === '"' && q.charAt(q.length - 1) === '"' ? q.slice(1, -1) : null;
    var out = [];
    for (var i = 0; i < all.length; i++) {
      var m = all[i];
      if (rule && m.rule !== rule) { continue; }
      if (ttp && meta(m, "ttp") !== ttp) { continue; }
      if (sev && meta(m, "severity") !== sev) { continue; }
      if (exact !== null ? keyPairs[i].indexOf(exact) < 0 : q && hay[i].indexOf(q) < 0) { continue; }
      out.push(i);
    }
    return out;
  }
  function pages() { return Math.max(1, Math.ceil(state.shown.length / size)); }

  function render() {
    state.page = Math.min(Math.max(0, state.page), pages() - 1);
    list.textContent = "";
    var from = state.page * size, to = Math.min(state.shown.length, from + size);
    for (var i = from; i < to; i++) { list.appendChild(item(all[state.shown[i]])); }
    status.textContent = state.shown.length
      ? "Matches " + (from + 1) + "–" + to + " of " + state.shown.length +
        (state.shown.length < all.length ? " (filtered from " + all.length + ")" : "") +
        ", page " + (state.page + 1) + " of " + pages()
      : "No match passes these filters.";
    pager.querySelector("[data-go=first]").disabled = state.page === 0;
    pager.querySelector("[data-go=prev]").disabled = state.page === 0;
    pager.querySelector("[data-go=next]").disabled = state.page >= pages() - 1;
    pager.querySelector("[data-go=last]").disabled = state.page >= pages() - 1;
  }
  function apply() { state.shown = filtered(); state.page = 0; render(); }
  function clearFilters() { fRule.value = ""; fTtp.value = ""; fSev.value = ""; fQ.value = ""; }

  function item(m) {
    var li = el("li");
    li.id = "m-" + m.match_id;
    var d = el("details");
    var s = el("summary");
    s.appendChild(el("time", "mono", clock(m.emitted_at)));
    var sev = show(meta(m, "severity"));
    var b = el("span", "badge");
    b.appendChild(el("span", "sw " + cls(data.severities, "v", sev)));
    b.appendChild(document.createTextNode(sev));
    s.appendChild(b);
    s.appendChild(el("span", "rule", m.rule));
    var ttp = show(meta(m, "ttp"));
    var t = el("span", "ttp");
    t.appendChild(el("span", "sw " + cls(data.ttps, "c", ttp)));
    t.appendChild(document.createTextNode(ttp));
    s.appendChild(t);
    var keys = Object.keys(m.key || {}).map(function (k) { return k + "=" + show(m.key[k]); });
    s.appendChild(el("span", "key mono", keys.join(" ")));
    var v = data.verdicts[m.match_id];
    if (v) {
      var good = v.instance && v.correct_ttp;
      s.appendChild(el("span", good ? "verdict-good" : "verdict-bad",
        v.instance ? (v.correct_ttp ? "✓ " : "~ ") + v.instance : "✗ false alarm"));
    }
    d.appendChild(s);
    var body = el("div", "prov");
    d.appendChild(body);
    d.addEventListener("toggle", function () { if (d.open && !body.firstChild) { fill(body, m); } });
    li.appendChild(d);
    return li;
  }

  function dl(pairs) {
    var d = el("dl");
    pairs.forEach(function (p) {
      if (p[1] === undefined) { return; }
      d.appendChild(el("dt", null, p[0]));
      var dd = el("dd");
      if (p[1] instanceof Node) { dd.appendChild(p[1]); } else { dd.textContent = show(p[1]); }
      d.appendChild(dd);
    });
    return d;
  }
  function kvTable(obj, caption) {
    var keys = Object.keys(obj || {});
    if (!keys.length) { return el("p", "note", caption + ": none"); }
    var t = el("table");
    t.appendChild(el("caption", null, caption));
    var tb = el("tbody");
    keys.forEach(function (k) {
      var tr = el("tr");
      var th = el("th", "mono", k);
      th.scope = "row";
      tr.appendChild(th);
      tr.appendChild(el("td", "mono", show(obj[k])));
      tb.appendChild(tr);
    });
    t.appendChild(tb);
    return t;
  }
  function events(evs, caption) {
    var wrap = el("div", "scroll");
    if (!Array.isArray(evs) || !evs.length) { wrap.appendChild(el("p", "note", "no events listed")); return wrap; }
    var cols = [];
    evs.forEach(function (e) {
      Object.keys((e && e.fields) || {}).forEach(function (k) { if (cols.indexOf(k) < 0) { cols.push(k); } });
    });
    cols.sort();
    var t = el("table", "events");
    t.appendChild(el("caption", null, caption));
    var hr = el("tr");
    ["event id", "time"].concat(cols).forEach(function (c) {
      var th = el("th", "mono", c);
      th.scope = "col";
      hr.appendChild(th);
    });
    var th = el("thead");
    th.appendChild(hr);
    t.appendChild(th);
    var tb = el("tbody");
    evs.forEach(function (e) {
      e = e || {};
      var tr = el("tr");
      var id = el("td", "mono ev-id");
      var eid = show(e.id);
      if (typeof e.id === "string" && Object.prototype.hasOwnProperty.call(data.cited, e.id)) {
        var c = data.cited[e.id];
        id.appendChild(matchLink(e.id, eid));
        id.appendChild(el("span", "note", " match of " + c.rule + " (" + c.ttp + ")" +
          (pos[e.id] === undefined ? ", not held in this report" : "")));
      } else {
        id.textContent = eid;
      }
      id.setAttribute("data-id", eid);
      tr.appendChild(id);
      tr.appendChild(el("td", "mono", when(e.ts)));
      cols.forEach(function (c) {
        var f = e.fields || {};
        tr.appendChild(el("td", "mono", Object.prototype.hasOwnProperty.call(f, c) ? show(f[c]) : ""));
      });
      tb.appendChild(tr);
    });
    t.appendChild(tb);
    wrap.appendChild(t);
    return wrap;
  }
  function windowBlock(p, into) {
    var w = p.window || {};
    into.appendChild(dl([
      ["window", show(w.type) + (w.size ? " " + w.size : "") + (w.gap ? ", gap " + w.gap : "")],
      ["from", when(w.start)], ["to", when(w.end)],
      ["events", p.event_count !== undefined ? show(p.event_count) + " (" + show(p.omitted || 0) + " not shown)" : undefined],
      ["capped", p.capped ? p.capped.join(", ") : undefined],
      ["sustained", p.sustained ? show(p.sustained.windows) + " windows (for " + show(p.sustained["for"]) + ")" : undefined]
    ]));
    into.appendChild(kvTable(p.values, "window values when it matched"));
  }
  var KNOWN = { kind: 1, steps: 1, within: 1, absences: 1, decided_at_watermark: 1, events: 1, window: 1,
    values: 1, event_count: 1, omitted: 1, capped: 1, sustained: 1 };

  function fill(body, m) {
    var rm = rules[m.rule] || {};
    var flags = (m.flags || []).map(function (f) { return f + (data.flag_meaning[f] ? " (" + data.flag_meaning[f] + ")" : ""); });
    var where;
    if (rm.file) { where = el("span", "mono", rm.file + ":" + rm.line); }
    body.appendChild(dl([
      ["rule", m.rule + (meta(m, "title") ? " — " + show(meta(m, "title")) : "")],
      ["technique · goal", show(meta(m, "ttp")) + " · " + show(meta(m, "goal"))],
      ["severity", show(meta(m, "severity"))],
      ["written at", where],
      ["match id", m.match_id],
      ["TTP fingerprint", show(m.fingerprint)],
      ["first event", when(m.first_ts)], ["last event", when(m.last_ts)], ["decided at", when(m.emitted_at)],
      ["flags", flags.length ? el("span", "flag", flags.join("; ")) : "none"]
    ]));
    var v = data.verdicts[m.match_id];
    if (v) {
      body.appendChild(el("p", v.instance && v.correct_ttp ? "verdict-good" : "verdict-bad",
        v.instance
          ? "Evaluation: attributed to " + v.instance + " (" + show(v.generator) + ", " + show(v.instance_ttp) + "), " +
            (v.correct_ttp ? "the right technique" : "another technique")
          : "Evaluation: false alarm" + (v.trap && v.trap !== "none" ? " on benign trap traffic (" + v.trap + ")" : "")));
    }
    var by = data.consumed_by[m.match_id];
    if (by && by.length) {
      var p = el("p", null, "Cited by campaign match ");
      by.forEach(function (id, i) { if (i) { p.appendChild(document.createTextNode(", ")); } p.appendChild(matchLink(id, id)); });
      body.appendChild(p);
    }
    body.appendChild(kvTable(m.fields, "emitted fields"));
    var pr = m.provenance || {};
    body.appendChild(el("h4", null, "Provenance (" + show(pr.kind) + ")"));
    if (pr.within) { body.appendChild(el("p", null, "within " + show(pr.within))); }
    (Array.isArray(pr.steps) ? pr.steps : []).forEach(function (st) {
      st = st || {};
      var box = el("div", "step");
      box.appendChild(el("h4", null, "Step " + show(st.step) + ": " + show(st.count) + " event(s), " +
        show(st.omitted || 0) + " not shown"));
      box.appendChild(events(st.events, "events of step " + show(st.step)));
      if (st.window) { windowBlock(st.window, box); }
      body.appendChild(box);
    });
    if (pr.kind === "window") { windowBlock(pr, body); }
    if (pr.kind !== "sequence" && pr.events) { body.appendChild(events(pr.events, "contributing events")); }
    if (Array.isArray(pr.absences) && pr.absences.length) {
      var t = el("table");
      t.appendChild(el("caption", null, "absence evidence (what did not happen)"));
      var tb = el("tbody");
      pr.absences.forEach(function (a) {
        a = a || {};
        var tr = el("tr");
        var th = el("th", "mono", show(a.name));
        th.scope = "row";
        tr.appendChild(th);
        var span = Array.isArray(a.between) ? "between steps " + a.between.map(show).join(" and ")
          : a.after ? "after step " + show(a.after) + (a.within ? ", within " + show(a.within) : "") : "";
        tr.appendChild(el("td", null, span));
        tr.appendChild(el("td", null, a.seen ? "seen" : "not seen"));
        tr.appendChild(el("td", null, a.checked_until ? "checked until " + when(a.checked_until) : ""));
        tb.appendChild(tr);
      });
      t.appendChild(tb);
      body.appendChild(t);
    }
    if (pr.decided_at_watermark) { body.appendChild(el("p", null, "decided when the watermark reached " + when(pr.decided_at_watermark))); }
    var extra = {};
    Object.keys(pr).forEach(function (k) { if (!KNOWN[k]) { extra[k] = pr[k]; } });
    if (Object.keys(extra).length) { body.appendChild(kvTable(extra, "other provenance")); }
    if (rm.text) {
      var rd = el("details");
      rd.appendChild(el("summary", null, "Rule text" + (rm.file ? " (" + rm.file + ":" + rm.line + ")" : "")));
      rd.appendChild(el("pre", null, rm.text));
      body.appendChild(rd);
    }
  }

  function openMatch(id, focus) {
    if (pos[id] === undefined) { return false; }
    var at = state.shown.indexOf(pos[id]);
    if (at < 0) { clearFilters(); state.shown = filtered(); at = state.shown.indexOf(pos[id]); }
    state.page = Math.floor(at / size);
    render();
    var li = document.getElementById("m-" + id);
    var d = li.querySelector("details");
    d.open = true;
    var body = d.querySelector(".prov");
    if (!body.firstChild) { fill(body, all[pos[id]]); }
    if (focus) { li.scrollIntoView(); d.querySelector("summary").focus(); }
    return true;
  }
  function fromHash() {
    var h = decodeURIComponent(location.hash.slice(1));
    if (h.indexOf("m-") === 0 && MATCH_ID.test(h.slice(2))) { openMatch(h.slice(2), true); }
  }

  form.addEventListener("input", apply);
  form.addEventListener("change", apply);
  form.addEventListener("reset", function () { setTimeout(apply, 0); });
  form.addEventListener("submit", function (ev) { ev.preventDefault(); apply(); });
  pager.addEventListener("click", function (ev) {
    var b = ev.target.closest("button[data-go]");
    if (!b) { return; }
    var go = b.getAttribute("data-go");
    state.page = go === "first" ? 0 : go === "prev" ? state.page - 1 : go === "next" ? state.page + 1 : pages() - 1;
    render();
  });
  document.addEventListener("click", function (ev) {
    var a = ev.target.closest("a[data-filter]");
    if (!a) { return; }
    ev.preventDefault();
    clearFilters();
    var kind = a.getAttribute("data-filter"), value = a.getAttribute("data-value");
    if (kind === "rule") { fRule.value = value; } else if (kind === "ttp") { fTtp.value = value; } else { fQ.value = value; }
    apply();
    document.getElementById("matches").scrollIntoView();
    status.focus();
  });
  window.addEventListener("hashchange", fromHash);
  apply();
  fromHash();
}());
