"""Scheduled jobs of the rewards shop: expiring earned points, and warning members before it happens."""

from celery import shared_task

from rewards.services import expiry


@shared_task(acks_late=True)
def points_expiry_run() -> dict[str, int]:
    """Daily: expire points that are due, oldest first. Running it twice the same day expires once."""
    result = expiry.points_expire_run()
    return {"members": result.members, "points": result.points}


@shared_task(acks_late=True)
def points_expiry_warn() -> int:
    """Daily: tell members whose points expire within the warning window (each expiry date once)."""
    return expiry.points_expiry_warn()
