"""Reliability tests (docs/reliability.md); a package so its test basenames may repeat elsewhere."""
