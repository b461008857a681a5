"""Load rule packs: find files, parse, check, compile.

The last stage of the front end. A pack is a folder of `*.ttp` files
(searched recursively, in sorted order so loading is deterministic) or an
explicit list of files; imports may reach files outside it. `check_paths`
stops after the semantic checks (for `sleuth check`); `load_pack` also
compiles to the engine's `PackSpec` and raises one `PackError` holding every
error diagnostic, sorted by location. A rule file above `MAX_FILE_BYTES`
(2 MiB by default, `max_file_bytes=` to change) is not read: it gets a
`file-too-large` diagnostic (a 50 MB file once took 406 s and 10 GB to load).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

import attrs

from sleuth.engine.match import stable_hash

from . import ast
from .check import CheckedPack, Checker
from .diagnostic import ERROR, Diagnostic, closest
from .errors import PackError
from .parse import parse_recovering
from .span import Span

if TYPE_CHECKING:
    from sleuth.engine.spec import PackSpec


def find_rule_files(path: str | os.PathLike) -> list[str]:
    """The `.ttp` files of a pack folder (recursive, sorted), or the file itself."""
    path = os.fspath(path)
    if os.path.isdir(path):
        out: list[str] = []
        for root, dirs, files in os.walk(path):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            out.extend(os.path.join(root, f) for f in sorted(files) if f.endswith(".ttp"))
        return sorted(out)
    return [path]


def _display(path: str) -> str:
    rel = os.path.relpath(path)
    return rel if not rel.startswith("..") else path


#: Rule files larger than this (bytes) are refused with `file-too-large`; the shipped
#: pack's largest file is ~16 KB. Measured on 0.25-1 MB of rules: checking costs ~8-9 µs
#: and ~210 bytes of peak memory per byte, so the limit bounds a load to ~20 s and ~450 MB.
MAX_FILE_BYTES = 2 << 20


def _too_large(path: str, size: int, limit: int) -> Diagnostic:
    return Diagnostic("file-too-large", ERROR,
                      f"rule file is {size:,} bytes, above the limit of {limit:,} bytes",
                      Span(path.replace("\0", "\\0"), 1, 1, 1, 1, 0, 0),
                      ("split it into several files, or raise the limit: load_pack(..., max_file_bytes=N)",))


def _read(path: str, limit: int = MAX_FILE_BYTES) -> tuple[str | None, Diagnostic | None]:
    try:
        with open(path, "rb") as fh:
            # Read one byte past the limit instead of trusting the size: a pipe or /proc file has none.
            data = fh.read(limit + 1)
            if len(data) > limit:
                size = os.fstat(fh.fileno()).st_size
                return None, _too_large(path, max(size, len(data)), limit)
    except (OSError, ValueError) as exc:      # ValueError: a NUL in the path
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        return None, Diagnostic("unreadable-file", ERROR, f"cannot read rule file: {reason}",
                                Span(path.replace("\0", "\\0"), 1, 1, 1, 1, 0, 0))
    try:
        return data.decode("utf-8"), None
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        col = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        return None, Diagnostic("bad-encoding", ERROR, "rule files are UTF-8; this byte is not",
                                Span(path, line, col, line, col + 1, exc.start, exc.start + 1))


def check_sources(sources: dict[str, str], *, max_file_bytes: int = MAX_FILE_BYTES) -> CheckedPack:
    """Parse and check in-memory rule files (path → text); texts above `max_file_bytes` are refused."""
    modules: dict[str, ast.Module] = {}
    diags: list[Diagnostic] = []
    for path, text in sources.items():
        if len(text) > max_file_bytes // 4 and len(text.encode("utf-8", "surrogatepass")) > max_file_bytes:
            diags.append(_too_large(path, len(text.encode("utf-8", "surrogatepass")), max_file_bytes))
            module, errs = parse_recovering("", path)
            modules[path] = module
            continue
        module, errs = parse_recovering(text, path)
        modules[path] = module
        diags.extend(errs)
    all_sources = dict(sources)

    def parse_file(target: str):
        text, err = _read(target, max_file_bytes)
        if err is not None and err.code == "file-too-large":
            return parse_recovering("", target)[0], [err]     # the import resolves, to nothing
        if text is None:
            return None, [err] if err else []
        all_sources[target] = text
        return parse_recovering(text, target)

    checker = Checker(modules, all_sources, parse_file=parse_file)
    checked = checker.run()
    return CheckedPack(checked.rules, checked.tests, tuple(diags) + checked.diagnostics, all_sources,
                       checked.modules)


def check_paths(paths: Sequence[str | os.PathLike] | str | os.PathLike, *,
                max_file_bytes: int = MAX_FILE_BYTES) -> CheckedPack:
    """Parse and check rule files and pack folders; never raises on bad rules."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    files: list[str] = []
    for p in paths:
        files.extend(find_rule_files(p))
    sources: dict[str, str] = {}
    diags: list[Diagnostic] = []
    for f in files:
        disp = os.path.normpath(_display(f))
        text, err = _read(f, max_file_bytes)
        if text is None:
            assert err is not None
            diags.append(Diagnostic(err.code, err.severity, err.message,
                                    Span(disp, err.span.line, err.span.col, err.span.end_line,
                                         err.span.end_col, err.span.start, err.span.end), err.hints))
            continue
        sources[disp] = text
    checked = check_sources(sources, max_file_bytes=max_file_bytes)
    return CheckedPack(checked.rules, checked.tests, tuple(diags) + checked.diagnostics, checked.sources,
                       checked.modules)


def load_pack(paths: Sequence[str | os.PathLike] | str | os.PathLike | None = None, *,
              sources: dict[str, str] | None = None, name: str | None = None,
              max_file_bytes: int = MAX_FILE_BYTES, rules: Iterable[str] | None = None) -> PackSpec:
    """Load, check and compile a rule pack.

    `paths` are pack folders or rule files (default: the shipped
    `rulepacks/api`); `sources` gives rule text directly (path → text).
    Raises `PackError` with every error diagnostic when anything is wrong
    (a rule file above `max_file_bytes`: `file-too-large`, never read).
    `rules` keeps only the named rules (and their tests): one group of
    `pack.partition_plan()`, to run a partition on its own engine
    (docs/embedding.md); a name the pack does not have is an `unknown-rule`
    error. Returns a `sleuth.engine.PackSpec` ready for `Engine(pack)`.
    """
    from .lower import compile_pack

    if sources is not None:
        checked = check_sources(sources, max_file_bytes=max_file_bytes)
        label = name or ",".join(sorted(sources))
    else:
        if paths is None:
            paths = [builtin_pack_path()]
        if isinstance(paths, (str, os.PathLike)):
            paths = [paths]
        checked = check_paths(paths, max_file_bytes=max_file_bytes)
        label = name or ",".join(os.fspath(p) for p in paths)
    if checked.errors:
        raise PackError(list(checked.diagnostics), checked.sources)
    if rules is None:
        return compile_pack(checked, name=label)
    wanted = list(rules)
    have = {r.name for r in checked.rules}
    unknown = [Diagnostic("unknown-rule", ERROR, f"the pack has no rule named '{n}'", Span(label, 1, 1, 1, 1, 0, 0),
                          (f"did you mean '{g}'?",) if (g := closest(n, have)) else ())
               for n in wanted if n not in have]
    if unknown:
        raise PackError(unknown, checked.sources)
    keep = set(wanted)
    part = CheckedPack(tuple(r for r in checked.rules if r.name in keep),
                       tuple(t for t in checked.tests if t.rule in keep), checked.diagnostics, checked.sources,
                       checked.modules)
    spec = compile_pack(part, name=label)
    # Another rule set is another pack: its snapshots must not restore into the whole one.
    return attrs.evolve(spec, fingerprint=stable_hash(spec.fingerprint, sorted(keep), size=16))


def builtin_pack_path(name: str = "api") -> str:
    """Where the shipped rule pack `name` is installed."""
    from importlib import resources

    return str(resources.files("sleuth.rulepacks").joinpath(name))
