"""What each activity verb is called in the portal ("Checked in", "已签到"), so members never see a raw code.

Verbs from integrations (`product.<name>`) and any verb not listed here are shown as they are.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

LABELS = {
    "checked_in": _("Checked in"),
    "feedback_submitted": _("Submitted feedback"),
    "feedback_accepted": _("Feedback accepted"),
    "question_asked": _("Asked a question"),
    "question_answered": _("Answered a question"),
    "topic_replied": _("Replied to a topic"),
    "event_registered": _("Registered for an event"),
    "event_attended": _("Attended an event"),
    "survey_answered": _("Answered a survey"),
    "reported_for_spam": _("Reported for spam"),
    "badge_earned": _("Earned a badge"),
    "level_reached": _("Reached a level"),
    "reward_redeemed": _("Redeemed a reward"),
    "application_submitted": _("Applied to the program"),
    "application_accepted": _("Accepted into the program"),
    "onboarding_step_completed": _("Completed an onboarding step"),
    "onboarding_completed": _("Completed onboarding"),
    "experiment_assigned": _("Joined a campaign"),
}


def activity_label(verb: str) -> str:
    return str(LABELS.get(verb, verb))
