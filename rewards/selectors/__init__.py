"""Rewards reads, one module per topic; every public selector is importable from `rewards.selectors`."""

from rewards.selectors.ledger import balance_for_member, entries_for_member, ledger_drift

__all__ = ["balance_for_member", "entries_for_member", "ledger_drift"]
