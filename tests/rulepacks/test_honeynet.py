"""The api pack on real traffic: the 2004 honeynet Apache logs (`shared_data("honeynet2004")`).

38,487 unsolicited requests to a Red Hat honeypot, April-October 2004, read
with the Apache reader oldest file first, routed by the heuristic templater
(there is no OpenAPI document for a honeypot), no enrichment (no ASN, no
TLS, no sessions or users). The counts below were checked by hand against
the raw logs (grep/awk over the files; see the comments), then pinned: a
change in any of them is a change in behaviour to explain.

What is there and what fires:

* the PROPFIND burst: 82.82.97.119 (Microsoft-WebDAV-MiniRedir) sends 6,131
  PROPFIND (all 404) and 21 OPTIONS between 15:28:07 and 15:33:34 -0400 on
  1 May (1,636 in its busiest minute): `exhaustion_source_flood` (600 in a
  minute) and `spec_nonstandard_methods`;
* worm-like probing: `GET /` with the user agent
  "Mozilla/4.0 (compatible; MSIE 5.5; Windows 98)" from 7,475 addresses, one
  or two requests each, April-May: `rotation_worm_fleet` keyed on the derived
  `client` "ua:MSIE/5" (30 new addresses within 6 hours, once a day at most);
* the Nimda worm: 353 addresses without a user agent, each trying up to 28
  exploit paths (/scripts/root.exe, /MSADC/root.exe, ...), all 404, over the
  whole period: `spec_anonymous_probe_source` (8 missing paths from one
  address within 10 minutes) on 299 of them;
* scanning with many 404s: Nikto 1.32 from 68.49.152.86 on 22 April, 2,474
  requests, 2,400 of them 404, ~350 a minute: `spec_path_scanning`;
* the WebDAV SEARCH overflow (`SEARCH /\x90...`, 414) from 676 addresses, one
  or two requests each, peaking in April-May: `spec_nonstandard_method_fleet`
  (20 addresses within a day, a few requests each) on 10 days;
* a second flood: 211.75.221.105, 609 requests within a minute on 10 October;
* WebDAV clients (63.126.133.0/24 and others) issuing PROPFIND in bursts,
  and open-proxy probes (CONNECT) and IIS SEARCH exploits:
  `spec_nonstandard_methods`.

Rules that need what the log lacks (logins, users, sessions, TLS
fingerprints, ASNs, an OpenAPI document) stay silent by construction.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import pytest
from shared_data import shared_data

from sleuth.dsl.pack import load_pack
from sleuth.engine import Engine, Normalizer
from sleuth.engine.ingest import Bad, HeuristicTemplater, open_source

REPO = Path(__file__).resolve().parents[2]
DATA = shared_data("honeynet2004")
# Oldest first: access_log.25 ... access_log.1, then access_log.
FILES = sorted((p for p in os.listdir(DATA) if p.startswith("access_log.")),
               key=lambda p: -int(p.rsplit(".", 1)[1])) + ["access_log"]

# What the pack finds on real traffic: the detection-quality tier.
pytestmark = pytest.mark.quality

WEBDAV = "Microsoft-WebDAV-MiniRedir/5.1.2600"


@pytest.fixture(scope="module")
def run():
    pack = load_pack(str(REPO / "rulepacks" / "api"))
    eng = Engine(pack, normalizer=Normalizer(templater=HeuristicTemplater()))
    matches = []
    events = bad = 0
    for name in FILES:
        for pos, ev in open_source(str(DATA / name), "apache"):
            if isinstance(ev, Bad):
                bad += 1
                continue
            events += 1
            matches.extend(eng.feed_many([ev], source=name, positions=[pos]))
    matches.extend(eng.close())
    return {"matches": [m.to_dict() for m in matches], "events": events, "bad": bad, "metrics": dict(eng.metrics)}


def test_the_whole_log_is_read(run):
    assert run["events"] == 38487
    assert run["bad"] == 0
    assert run["metrics"]["rule_errors"] == 0
    assert run["metrics"]["late"] == 0


def test_matches_per_rule(run):
    counts = Counter(m["rule"] for m in run["matches"])
    assert dict(counts) == {
        "rotation_worm_fleet": 31,        # 29 x MSIE 5.5 "GET /" (Apr-May), 2 x WebDAV "/" (July)
        # PROPFIND bursts, CONNECT and SEARCH probes (one per address and hour at most). A
        # regex count over the raw lines gives 76: it also takes Nikto's four bare "GET"
        # request lines as a method, which the Apache reader keeps as `request` only.
        "spec_nonstandard_methods": 75,
        "exhaustion_source_flood": 2,     # 82.82.97.119 (1 May) and 211.75.221.105 (10 Oct)
        "spec_path_scanning": 1,          # Nikto from 68.49.152.86
        # Nimda: 299 of its 353 addresses try 8 or more exploit paths within 10 minutes,
        # some of them on more than one day.
        "spec_anonymous_probe_source": 327,
        # The SEARCH overflow fleet: 20 addresses within a day, once a day at most.
        "spec_nonstandard_method_fleet": 10,
    }


def test_propfind_burst(run):
    floods = [m for m in run["matches"] if m["rule"] == "exhaustion_source_flood"]
    burst = [m for m in floods if m["key"] == {"src_ip": "82.82.97.119"}]
    assert len(burst) == 1
    m = burst[0]
    assert m["first_ts"] == "2004-05-01T19:28:07.000Z"     # 15:28:07 -0400, the burst's first request
    assert m["fields"]["requests"] == 600
    assert m["fields"]["ua"] == WEBDAV
    odd = [m for m in run["matches"] if m["rule"] == "spec_nonstandard_methods"
           and m["key"] == {"src_ip": "82.82.97.119"}]
    assert len(odd) == 1 and odd[0]["fields"]["sample_methods"] == ["PROPFIND"]
    assert {m["key"]["src_ip"] for m in floods} == {"82.82.97.119", "211.75.221.105"}


def test_worm_like_probing(run):
    worm = [m for m in run["matches"] if m["rule"] == "rotation_worm_fleet"]
    msie = [m for m in worm if m["key"] == {"client": "ua:MSIE/5", "path": "/"}]
    assert len(msie) == 29
    # Each match names 30 distinct addresses; suppression keeps it to one a day.
    assert all(m["fields"]["addresses"] == 30 for m in msie)
    days = [m["first_ts"][:10] for m in msie]
    assert len(set(days)) == len(days)
    assert days[0] == "2004-04-21" and days[-1] == "2004-05-31"
    assert {m["key"]["client"] for m in worm} == {"ua:MSIE/5", "ua:Microsoft-WebDAV-MiniRedir/5"}


def test_nimda_without_user_agent(run):
    nimda = [m for m in run["matches"] if m["rule"] == "spec_anonymous_probe_source"]
    assert len({m["key"]["src_ip"] for m in nimda}) == 299
    assert all(m["fields"]["paths"] == 8 for m in nimda)
    first = nimda[0]
    assert first["first_ts"] == "2004-04-22T01:38:48.000Z"
    assert any(p.endswith("root.exe") for p in first["fields"]["sample_paths"])


def test_scanner_with_many_404s(run):
    scans = [m for m in run["matches"] if m["rule"] == "spec_path_scanning"]
    assert len(scans) == 1
    m = scans[0]
    assert m["key"] == {"src_ip": "68.49.152.86"}
    assert m["fields"]["ua"] == "Mozilla/4.75 (Nikto/1.32 )"
    assert m["fields"]["paths"] == 30 and m["fields"]["routes"] == 30


def test_rules_without_their_fields_stay_silent(run):
    # No logins, users, sessions, TLS or ASN in a 2004 Apache log: these families cannot fire.
    silent = ("stuffing_", "aggregation_", "ato_", "bla_", "session_", "fp_", "reputation_", "campaign_")
    assert not [m["rule"] for m in run["matches"] if m["rule"].startswith(silent)]


def test_search_overflow_fleet(run):
    fleet = [m for m in run["matches"] if m["rule"] == "spec_nonstandard_method_fleet"]
    assert {m["key"]["method"] for m in fleet} == {"SEARCH"}
    assert [m["first_ts"][:10] for m in fleet] == [
        "2004-04-21", "2004-04-23", "2004-04-26", "2004-04-27", "2004-04-29",
        "2004-05-01", "2004-05-02", "2004-05-04", "2004-05-10", "2004-05-18"]
    assert all(m["fields"]["addresses"] == 20 and m["fields"]["requests"] <= 31 for m in fleet)
