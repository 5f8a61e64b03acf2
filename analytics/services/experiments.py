"""Experiments (A/B tests): defining them, and assigning members to a variant deterministically and stickily.

The variant is a pure function of the experiment key and the member id (a SHA-256 bucket over the variants'
weights), so every process picks the same one; the first assignment is stored (and recorded on the activity
stream as `experiment_assigned`, once per member thanks to its dedupe key) and kept even if weights change.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from analytics.models import Assignment, Experiment, Variant
from community.errors import ServiceError
from community.services import audit_record, model_snapshot, record_activity
from members.models import Member

ASSIGNED_VERB = "experiment_assigned"
BUCKETS = 10_000


def experiment_create(
    *,
    actor: Any,
    key: str,
    name: str,
    outcome_verb: str,
    variants: Sequence[dict[str, Any]],
    outcome_window_days: int = 14,
    description: str = "",
    start: bool = False,
) -> Experiment:
    """Create an experiment with its variants ({"key", "name", "weight"=1, "config"={}}); the first is the control."""
    if len(variants) < 2:
        raise ServiceError(_("An experiment needs at least two variants."), field="variants")
    keys = [str(v.get("key", "")).strip() for v in variants]
    if len(set(keys)) != len(keys) or not all(keys):
        raise ServiceError(_("Each variant needs its own key."), field="variants")
    if any(int(v.get("weight", 1)) < 1 for v in variants):
        raise ServiceError(_("Weights must be at least 1."), field="variants")
    if not outcome_verb.strip():
        raise ServiceError(_("Name the action that counts as the outcome."), field="outcome_verb")
    if not 1 <= outcome_window_days <= 365:
        raise ServiceError(_("The outcome window must be between 1 and 365 days."), field="outcome_window_days")
    with transaction.atomic():
        try:
            with transaction.atomic():
                experiment = Experiment.objects.create(
                    key=key,
                    name=name,
                    description=description,
                    outcome_verb=outcome_verb.strip(),
                    outcome_window_days=outcome_window_days,
                    status=Experiment.Status.RUNNING if start else Experiment.Status.DRAFT,
                )
        except IntegrityError:
            raise ServiceError(_("An experiment with this key exists already."), field="key") from None
        Variant.objects.bulk_create(
            Variant(
                experiment=experiment,
                key=keys[position],
                name=str(spec.get("name") or keys[position]),
                weight=int(spec.get("weight", 1)),
                position=position,
                config=dict(spec.get("config") or {}),
            )
            for position, spec in enumerate(variants)
        )
        audit_record(
            actor=actor, action="analytics.experiment.create", obj=experiment, after=model_snapshot(experiment)
        )
    return experiment


def experiment_set_status(*, actor: Any, experiment: Experiment, status: str) -> Experiment:
    if status not in Experiment.Status.values:
        raise ServiceError(_("Unknown status."), field="status")
    with transaction.atomic():
        experiment = Experiment.objects.select_for_update().get(pk=experiment.pk)
        before = model_snapshot(experiment)
        if experiment.status != status:
            experiment.status = status
            experiment.save(update_fields=["status"])
            audit_record(
                actor=actor, action="analytics.experiment.status", obj=experiment, before=before,
                after=model_snapshot(experiment),
            )  # fmt: skip
    return experiment


def variant_for(*, experiment_key: str, member_id: int, variants: Sequence[Variant]) -> Variant:
    """The variant a member falls into: hash(experiment key, member id) into buckets split by weight."""
    digest = hashlib.sha256(f"{experiment_key}:{member_id}".encode()).digest()
    bucket = int.from_bytes(digest[:8], "big") % BUCKETS
    total = sum(v.weight for v in variants)
    point = bucket * total / BUCKETS
    running = 0
    for variant in variants:
        running += variant.weight
        if point < running:
            return variant
    return variants[-1]


def experiment_assign(*, experiment: Experiment, member: Member, assigned_at: datetime | None = None) -> Assignment:
    """The member's assignment in a running experiment: the stored one, else a new deterministic one.

    `assigned_at` defaults to now (an import or the demo may date it in the past).
    """
    existing = Assignment.objects.select_related("variant").filter(experiment=experiment, member=member).first()
    if existing is not None:
        return existing
    if experiment.status != Experiment.Status.RUNNING:
        raise ServiceError(_("This experiment is not running."), field="experiment")
    variants = list(experiment.variants.order_by("position", "id"))
    variant = variant_for(experiment_key=experiment.key, member_id=member.pk, variants=variants)
    now = assigned_at or timezone.now()
    with transaction.atomic():
        try:
            with transaction.atomic():
                assignment = Assignment.objects.create(
                    experiment=experiment, variant=variant, member=member, assigned_at=now
                )
        except IntegrityError:  # another request assigned the member first: theirs stands
            return Assignment.objects.select_related("variant").get(experiment=experiment, member=member)
        record_activity(
            member=member,
            verb=ASSIGNED_VERB,
            # The variant is the target (its key in the Assignment row), so the stream says which arm without
            # copying more than the experiment's key into `data`.
            target=variant,
            data={"experiment": experiment.key},
            occurred_at=now,
            dedupe_key=f"experiment:{experiment.pk}:{member.pk}",
        )
    return assignment


def experiment_assign_members(
    *, experiment: Experiment, members: Sequence[Member], assigned_at: datetime | None = None
) -> int:
    """Assign many members (a campaign's audience); returns how many were newly assigned."""
    before = Assignment.objects.filter(experiment=experiment).count()
    for member in members:
        experiment_assign(experiment=experiment, member=member, assigned_at=assigned_at)
    return Assignment.objects.filter(experiment=experiment).count() - before
