"""Nightly verification that every balance equals its ledger sums."""

from celery import shared_task

from rewards.services import verification


@shared_task(acks_late=True)
def ledger_verify() -> int:
    return verification.ledger_verify()
