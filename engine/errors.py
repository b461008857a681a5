"""The error hierarchy's root and the engine's own errors.

`SleuthError` is the base of every error sleuth raises on purpose; the
language's errors (`RuleSyntaxError`, `RuleCheckError`, `PackError`) derive
from it in `sleuth.dsl`. The engine raises `EngineError` for misuse and bad
options and `SnapshotError` when a snapshot cannot be restored.
"""

from __future__ import annotations


class SleuthError(Exception):
    """Base of all errors raised by sleuth on purpose."""


class EngineError(SleuthError):
    """The engine was misused or misconfigured (bad option, closed engine)."""


class SnapshotError(SleuthError):
    """A snapshot is corrupt, of another format version, or of another pack."""
