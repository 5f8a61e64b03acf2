"""The event types webhooks carry, with the `data` each one's payload holds (version 1).

Every delivery body is `{"id", "type", "version": 1, "created_at", "data"}`; `data` is what the publishing
service passed to `community.domain_events.publish`. Publishers may add keys within a version; removing or
renaming one needs a new version. docs/integrations.md lists the same table for integrators.
"""

from __future__ import annotations

PAYLOAD_VERSION = 1

# type → (what happened, the keys of `data`)
EVENT_TYPES: dict[str, tuple[str, tuple[str, ...]]] = {
    "member.accepted": ("An applicant was accepted into the program.", ("member_id",)),
    "member.left": ("A member left the program.", ("member_id",)),
    "member.removed": ("An operator removed a member from the program.", ("member_id", "reason")),
    "member.merged": (
        "An operator merged two member records; the source's ids now point at the target.",
        ("source_member_id", "target_member_id"),
    ),
    "feedback.created": ("A member submitted feedback.", ("feedback_id", "member_id")),
    "feedback.status_changed": ("Feedback moved to another status.", ("feedback_id", "status", "previous_status")),
    "points.awarded": (
        "A member earned points.",
        ("entry_id", "member_id", "points", "reason", "idempotency_key", "created_at"),
    ),
    "badge.awarded": ("A member earned or was granted a badge.", ("award_id", "member_id", "badge", "tier")),
    "level.changed": (
        "A member moved up a level, or down one after the grace period (level_id is null when none is left).",
        ("member_id", "level_id", "level", "previous_level_id", "direction"),
    ),
    "reward.redeemed": (
        "A member redeemed a reward in the shop.",
        ("redemption_id", "member_id", "reward_id", "price", "status"),
    ),
    "event.registered": ("A member registered for a community event.", ("event_id", "member_id")),
    "kpi.target_missed": ("A KPI missed its target.", ("kpi", "value", "target", "period")),
}
WILDCARD = "*"


def known(event_type: str) -> bool:
    return event_type == WILDCARD or event_type in EVENT_TYPES


def register(event_type: str, description: str, keys: tuple[str, ...] = ()) -> None:
    """Another app's event type (call in AppConfig.ready()); unknown published types are delivered anyway."""
    EVENT_TYPES.setdefault(event_type, (description, keys))
