"""Admin pages of the rewards engine, one module per topic."""

from rewards.admin import badges, ledger, rules, shop  # noqa: F401
