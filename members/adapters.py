from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from allauth.account import app_settings as account_settings
from allauth.account.adapter import DefaultAccountAdapter
from django.conf import settings
from django.contrib.sites.shortcuts import get_current_site
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.utils import translation
from django.utils.translation import gettext

from community.views import set_language_cookie
from members.models import Member
from members.services import member_create

# Set on the request by the application form (members.views.apply) while it signs a visitor up.
APPLYING_FLAG = "_hearth_applying"

# The domain django.contrib.sites gives its first row until an operator names the site.
PLACEHOLDER_SITE_DOMAIN = "example.com"


@dataclass(frozen=True)
class EmailSite:
    """What account emails call the site: its name and domain."""

    name: str
    domain: str


def email_site(request: Any) -> Any:
    """The configured Site, or — while it is still Django's placeholder — the community's name and SITE_URL."""
    site = get_current_site(request)
    if site.domain != PLACEHOLDER_SITE_DOMAIN:
        return site
    return EmailSite(name=gettext("Hearth community"), domain=urlsplit(settings.SITE_URL).netloc)


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
                    # An applicant is welcomed when accepted, not when the application form creates the account.
                    welcome=not getattr(request, APPLYING_FLAG, False),
                )
        return user

    def post_login(self, request: HttpRequest, user: Any, **kwargs: Any) -> HttpResponse:
        """After log-in, a browser that never chose a language shows the portal in the member's own."""
        response = super().post_login(request, user, **kwargs)
        if settings.LANGUAGE_COOKIE_NAME not in request.COOKIES:
            locale = Member.objects.filter(user=user).values_list("locale", flat=True).first()
            if locale:
                set_language_cookie(response, locale)
        return response

    def format_email_subject(self, subject: str) -> str:
        if account_settings.EMAIL_SUBJECT_PREFIX is not None:
            return super().format_email_subject(subject)
        return f"[{email_site(self.request).name}] {subject}"

    def send_mail(self, template_prefix: str, email: str, context: dict[str, Any]) -> None:
        super().send_mail(template_prefix, email, {"current_site": email_site(self.request), **context})
