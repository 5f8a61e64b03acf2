"""Staff roles: the groups operators, moderators and analysts belong to, and what each may do in the admin.

`roles_sync()` sets each group's permissions exactly; it runs after every migration so new models are
covered without a hand-written data migration.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import Group, Permission
from django.db.models import Q

OPERATOR = "operator"
MODERATOR = "moderator"
ANALYST = "analyst"
ROLES = (OPERATOR, MODERATOR, ANALYST)

HEARTH_APPS = ("community", "members", "feedback", "rewards", "analytics", "engage", "integrations")

# Operators run the program: every permission on the community's own apps and its schedule.
OPERATOR_APPS = (*HEARTH_APPS, "django_celery_beat", "account")
# Moderators handle reports: they read members and may change what moderation touches.
MODERATOR_CODENAMES = ("view_member", "view_user", "view_tag", "view_activity", "view_auditlog")
MODERATOR_APP_PREFIXES = {"feedback": ("view_", "change_")}


def _permissions_for(role: str):
    if role == OPERATOR:
        return Permission.objects.filter(content_type__app_label__in=OPERATOR_APPS)
    if role == ANALYST:
        return Permission.objects.filter(content_type__app_label__in=HEARTH_APPS, codename__startswith="view_")
    query = Q(content_type__app_label__in=HEARTH_APPS, codename__in=MODERATOR_CODENAMES)
    for app_label, prefixes in MODERATOR_APP_PREFIXES.items():
        for prefix in prefixes:
            query |= Q(content_type__app_label=app_label, codename__startswith=prefix)
    return Permission.objects.filter(query)


def roles_sync() -> None:
    for role in ROLES:
        group, _created = Group.objects.get_or_create(name=role)
        group.permissions.set(_permissions_for(role))


def sync_after_migrate(sender: Any, **kwargs: Any) -> None:
    from django.apps import apps

    # post_migrate fires once per app that has models; the last such app's turn comes after every app's
    # permissions exist.
    with_models = [config for config in apps.get_app_configs() if config.models_module is not None]
    if sender.name == with_models[-1].name:
        roles_sync()


def user_has_role(user: Any, *roles: str) -> bool:
    if not (user and user.is_authenticated and user.is_active and user.is_staff):
        return False
    if user.is_superuser:
        return True
    return any(name in roles for name in _group_names(user))


def group_names_preload(user: Any, names: list[str]) -> None:
    """Give an account loaded elsewhere (API token authentication) its group names, saving the role query."""
    user._hearth_group_names = set(names)


def _group_names(user: Any) -> set[str]:
    cached = getattr(user, "_hearth_group_names", None)
    if cached is None:
        cached = set(user.groups.values_list("name", flat=True))
        user._hearth_group_names = cached
    return cached


def is_operator(user: Any) -> bool:
    return user_has_role(user, OPERATOR)
