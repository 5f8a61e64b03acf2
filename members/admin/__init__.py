"""Operator admin of the members app: accounts and members (`accounts`), recruitment and screening (`recruitment`)."""

from members.admin import accounts, recruitment

__all__ = ["accounts", "recruitment"]
