"""The kinds of notification the platform sends. Each app registers its own kinds in its AppConfig.ready().

A kind names its templates: `notifications/<key>/title.txt` and `notifications/<key>/body.txt`, rendered in
the member's language with the context the caller passes plus `member`.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _


@dataclass(frozen=True)
class NotificationKind:
    key: str
    label: str | Promise
    in_portal_default: bool = True
    email_default: bool = True


KINDS: dict[str, NotificationKind] = {}


def register(kind: NotificationKind) -> NotificationKind:
    KINDS[kind.key] = kind
    return kind


def get(key: str) -> NotificationKind:
    try:
        return KINDS[key]
    except KeyError:
        raise ValueError(f"Unknown notification kind {key!r}; register it in notification_kinds.") from None


WELCOME = register(NotificationKind("welcome", _("Welcome to the community")))
OPERATOR_MESSAGE = register(NotificationKind("operator_message", _("Messages from the community team")))
