"""The rule packs shipped with sleuth (data only: rule files, lists, fixtures)."""
