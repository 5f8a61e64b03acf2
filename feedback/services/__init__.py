"""Feedback write paths, one module per topic; the public services are importable from `feedback.services`."""

from feedback.services.attachments import attachment_add, attachment_check
from feedback.services.items import (
    item_delete,
    item_edit,
    item_merge,
    item_status_change,
    item_submit,
    item_triage,
    note_add,
    reply_post,
    subscription_add,
    subscription_remove,
    vote_add,
    vote_remove,
)
from feedback.services.moderation import (
    moderation_mute,
    moderation_mute_lift,
    moderation_remove,
    moderation_warn,
    report_dismiss,
    report_file,
)
from feedback.services.sla import sla_check_run
from feedback.services.surveys import survey_respond

__all__ = [
    "attachment_add",
    "attachment_check",
    "item_delete",
    "item_edit",
    "item_merge",
    "item_status_change",
    "item_submit",
    "item_triage",
    "moderation_mute",
    "moderation_mute_lift",
    "moderation_remove",
    "moderation_warn",
    "note_add",
    "reply_post",
    "report_dismiss",
    "report_file",
    "sla_check_run",
    "subscription_add",
    "subscription_remove",
    "survey_respond",
    "vote_add",
    "vote_remove",
]
