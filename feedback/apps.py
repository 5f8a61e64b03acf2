from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class FeedbackConfig(AppConfig):
    name = "feedback"
    verbose_name = _("Feedback")

    def ready(self) -> None:
        from community.notification_kinds import NotificationKind, register

        register(NotificationKind("feedback_reply", _("Replies to feedback you follow")))
        register(NotificationKind("feedback_status_changed", _("Status changes of feedback you follow")))
        register(NotificationKind("feedback_merged", _("Feedback you follow merged into another")))
        register(NotificationKind("feedback_sla_alert", _("Feedback past its response targets (operators)")))
        register(NotificationKind("moderation_warned", _("Warnings from the moderators")))
        register(NotificationKind("moderation_muted", _("Mutes from the moderators")))
        register(NotificationKind("moderation_removed", _("Removal from the program")))
