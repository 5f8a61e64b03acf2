from __future__ import annotations

import logging

from community.services import audit_record
from rewards import selectors

logger = logging.getLogger(__name__)


def ledger_verify() -> int:
    """Compare every balance with its ledger sums; record any drift in the audit log. Returns drifting members.

    Drift is reported, never silently corrected: a difference means a bug, and an operator should look.
    """
    drift = selectors.ledger_drift()
    if drift:
        logger.error("Points ledger drift for %d members: %s", len(drift), drift[:20])
        audit_record(actor=None, action="points.ledger_drift", after={"members": drift[:500], "count": len(drift)})
    return len(drift)
