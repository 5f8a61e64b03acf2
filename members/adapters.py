from __future__ import annotations

from typing import Any

from allauth.account.adapter import DefaultAccountAdapter
from django.db import transaction
from django.utils import translation

from members.services import member_create


class AccountAdapter(DefaultAccountAdapter):
    def save_user(self, request: Any, user: Any, form: Any, commit: bool = True) -> Any:
        with transaction.atomic():
            user = super().save_user(request, user, form, commit=commit)
            if commit:
                language = translation.get_language_from_request(request) if request else None
                member_create(
                    user=user,
                    display_name=form.cleaned_data.get("display_name", ""),
                    locale="zh-hans" if (language or "").startswith("zh") else "en",
                )
        return user
