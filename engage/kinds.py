"""The notification kinds the engagement app sends; registered in EngageConfig.ready()."""

from django.utils.translation import gettext_lazy as _

from community.notification_kinds import NotificationKind, register

EVENT_REGISTERED = register(NotificationKind("event_registered", _("Event registrations")))
EVENT_WAITLISTED = register(NotificationKind("event_waitlisted", _("Event waitlist places")))
EVENT_PROMOTED = register(NotificationKind("event_promoted", _("A seat freed up for you")))
EVENT_CANCELLED = register(NotificationKind("event_cancelled", _("Cancelled events")))
EVENT_REMINDER = register(NotificationKind("event_reminder", _("Event reminders")))
LOTTERY_WON = register(NotificationKind("lottery_won", _("Lottery wins")))
QUESTION_ANSWERED = register(NotificationKind("question_answered", _("Answers to your questions")))
MEMBER_NUDGE = register(NotificationKind("member_nudge", _("We miss you")))
COMMUNITY_DIGEST = register(NotificationKind("community_digest", _("Weekly community digest")))
