"""Rule files above the size limit get `file-too-large`, never an out-of-memory (dsl/pack.py).

The issue's reproduction: a 50 MB rule file was accepted after 406 s at 10 GB
peak memory. A file one byte over the limit is not parsed at all; the
diagnostic names its size and the limit.
"""

from __future__ import annotations

import pytest

from sleuth.dsl import PackError, check_paths, load_pack
from sleuth.dsl.pack import MAX_FILE_BYTES

RULE = 'rule r { meta { ttp = "scraping" goal = "scraping" severity = low title = "t" } when ua == "x" }\n'


def test_a_file_over_the_default_limit_is_refused_unread(tmp_path):
    big = tmp_path / "big.ttp"
    body = RULE + "# " + "x" * (MAX_FILE_BYTES - len(RULE) - 3) + "\n"
    big.write_text(body + "#", encoding="utf-8")       # one byte over
    checked = check_paths([str(big)])
    (d,) = [d for d in checked.diagnostics if d.is_error]
    assert d.code == "file-too-large"
    assert d.message == f"rule file is {MAX_FILE_BYTES + 1:,} bytes, above the limit of {MAX_FILE_BYTES:,} bytes"
    assert (d.span.line, d.span.col) == (1, 1)
    assert checked.rules == ()
    big.write_text(body, encoding="utf-8")            # exactly at the limit: loads
    assert [r.name for r in load_pack(str(big)).rules] == ["r"]


def test_the_limit_is_configurable_and_covers_imports_and_sources(tmp_path):
    (tmp_path / "lib.ttp").write_text("macro m = 1\n" + "# pad\n" * 40, encoding="utf-8")
    (tmp_path / "main.ttp").write_text('import "lib.ttp"\n' + RULE, encoding="utf-8")
    with pytest.raises(PackError) as e:
        load_pack(str(tmp_path / "main.ttp"), max_file_bytes=200)
    assert [d.code for d in e.value.errors] == ["file-too-large"]
    assert "lib.ttp" in e.value.errors[0].span.file
    with pytest.raises(PackError) as e:
        load_pack(sources={"s.ttp": RULE * 10}, max_file_bytes=500)
    assert [d.code for d in e.value.errors] == ["file-too-large"]
    assert len(load_pack(sources={"s.ttp": RULE}, max_file_bytes=500).rules) == 1
