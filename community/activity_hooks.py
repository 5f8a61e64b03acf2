"""Capabilities that react to the activity stream (point rules, badges, onboarding) register here.

A hook is called inside the transaction that records the activities, with the list just recorded, so a
point awarded for a check-in commits or rolls back together with the check-in. Each app registers its hook
in its AppConfig.ready(); the list is explicit and greppable ("activity_hooks.register").
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from community.models import Activity

ActivityHook = Callable[[Sequence["Activity"]], None]

_HOOKS: list[ActivityHook] = []


def register(hook: ActivityHook) -> ActivityHook:
    if hook not in _HOOKS:
        _HOOKS.append(hook)
    return hook


def run(activities: Sequence[Activity]) -> None:
    if not activities:
        return
    for hook in _HOOKS:
        hook(activities)
