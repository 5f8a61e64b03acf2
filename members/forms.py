from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from members.models import Member


class SignupProfileForm(forms.Form):
    """Extra sign-up fields; allauth calls `signup()` after the account is saved."""

    display_name = forms.CharField(
        label=_("Display name"), max_length=80, help_text=_("How other members will see you.")
    )

    def signup(self, request: Any, user: Any) -> None:
        # The profile itself is created by the account adapter; nothing else to store here.
        return None


class ProfileForm(forms.ModelForm):
    class Meta:
        model = Member
        fields = ["display_name", "avatar", "bio", "locale", "time_zone"]
        widgets = {"bio": forms.Textarea(attrs={"rows": 4})}

    def clean_avatar(self) -> Any:
        avatar = self.cleaned_data.get("avatar")
        if avatar and hasattr(avatar, "size") and avatar.size > 2 * 1024 * 1024:
            raise forms.ValidationError(_("The picture must be at most 2 MB."))
        return avatar


class LanguageForm(forms.Form):
    language = forms.ChoiceField(choices=settings.LANGUAGES)
    next = forms.CharField(required=False)
