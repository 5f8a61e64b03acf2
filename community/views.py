"""The member portal: home, inbox, notification settings, profile, API tokens, language."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import translation
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from community import notification_kinds, notifications, selectors, services
from community.errors import ServiceError
from community.models import NotificationEmailSetting
from members.forms import LanguageForm, ProfileForm
from members.services import member_ensure, member_profile_update


def home(request: HttpRequest) -> HttpResponse:
    if not request.user.is_authenticated:
        return render(request, "portal/landing.html")
    member = member_ensure(user=request.user)
    context = {
        "member": member,
        "summary": selectors.member_activity_summary(member=member),
        "recent_activity": selectors.activity_list(member=member)[:10],
        "recent_notifications": selectors.notification_list_for_member(member=member)[:5],
    }
    return render(request, "portal/home.html", context)


@login_required
def notification_list(request: HttpRequest) -> HttpResponse:
    member = member_ensure(user=request.user)
    page = Paginator(selectors.notification_list_for_member(member=member), 20).get_page(request.GET.get("page"))
    return render(request, "portal/notifications.html", {"page": page})


@login_required
@require_POST
def notification_open(request: HttpRequest, pk: int) -> HttpResponse:
    member = member_ensure(user=request.user)
    notification = get_object_or_404(selectors.notification_list_for_member(member=member), pk=pk)
    services.notifications_mark_read(member=member, notification_ids=[notification.pk])
    target = notification.url
    if target and _is_local(request, target):
        return HttpResponseRedirect(target)
    return redirect("portal:notifications")


@login_required
@require_POST
def notification_mark_all_read(request: HttpRequest) -> HttpResponse:
    marked = services.notifications_mark_read(member=member_ensure(user=request.user))
    messages.success(
        request,
        ngettext("Marked %(count)d notification read.", "Marked %(count)d notifications read.", marked)
        % {"count": marked},
    )
    return redirect("portal:notifications")


@login_required
def notification_settings(request: HttpRequest) -> HttpResponse:
    member = member_ensure(user=request.user)
    rows = selectors.notification_preferences_for_member(member=member)
    if request.method == "POST":
        for row in rows:
            in_portal = request.POST.get(f"{row['kind']}-in_portal") == "on"
            email = request.POST.get(f"{row['kind']}-email") == "on"
            if (in_portal, email) != (row["in_portal"], row["email"]):
                services.notification_preference_set(
                    member=member, kind=row["kind"], in_portal=in_portal, email=email, actor=request.user
                )
        messages.success(request, _("Your notification settings are saved."))
        return redirect("portal:notification_settings")
    frequency = NotificationEmailSetting.objects.filter(member=member).values_list("frequency", flat=True).first()
    context = {
        "rows": rows,
        "frequency": frequency or NotificationEmailSetting.Frequency.IMMEDIATE,
        "frequencies": NotificationEmailSetting.Frequency.choices,
    }
    return render(request, "portal/notification_settings.html", context)


@login_required
@require_POST
def notification_email_frequency(request: HttpRequest) -> HttpResponse:
    """Each message by e-mail, or a daily or weekly digest."""
    try:
        notifications.email_frequency_set(
            member=member_ensure(user=request.user), frequency=request.POST.get("frequency", ""), actor=request.user
        )
    except ServiceError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, _("Your notification settings are saved."))
    return redirect("portal:notification_settings")


@csrf_exempt  # the signed token is the credential; mail clients POST it without a session (RFC 8058)
def notification_unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    """One-click unsubscribe from an e-mail: GET shows a confirmation (link scanners change nothing), POST acts."""
    try:
        member, kind = notifications.unsubscribe_token_read(token)
    except ServiceError:
        return render(request, "portal/unsubscribe.html", {"invalid": True}, status=404)
    label = None if kind == notifications.ALL_KINDS else str(notification_kinds.get(kind).label)
    done = False
    if request.method == "POST":
        notifications.unsubscribe(token=token)
        done = True
    return render(request, "portal/unsubscribe.html", {"label": label, "done": done, "member": member})


@login_required
def profile(request: HttpRequest) -> HttpResponse:
    member = member_ensure(user=request.user)
    form = ProfileForm(request.POST or None, request.FILES or None, instance=member)
    if request.method == "POST" and form.is_valid():
        member_profile_update(
            member=member, actor=request.user, **{name: form.cleaned_data[name] for name in form.changed_data}
        )
        response = redirect("portal:profile")
        messages.success(request, _("Your profile is saved."))
        return set_language_cookie(response, form.cleaned_data["locale"]) if "locale" in form.changed_data else response
    if request.method == "POST":
        member.refresh_from_db()
    return render(request, "portal/profile.html", {"form": form, "member": member})


class TokenForm(forms.Form):
    # Lazy: the labels are translated per request, not once in whatever language was active at import.
    name = forms.CharField(label=gettext_lazy("Name"), max_length=100)
    expires_at = forms.DateTimeField(
        label=gettext_lazy("Expires at"), required=False, widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )
    scopes = forms.MultipleChoiceField(
        label=gettext_lazy("Scopes"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=gettext_lazy("What the token may do. Choose none for full access."),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        from integrations.scopes import choices

        super().__init__(*args, **kwargs)
        self.fields["scopes"].choices = [(name, f"{name} — {label}") for name, label in choices()]


@login_required
@never_cache  # the page that shows a new token's secret must never be kept by a browser or proxy
def api_tokens(request: HttpRequest) -> HttpResponse:
    form = TokenForm(request.POST or None)
    new_key = None
    if request.method == "POST" and form.is_valid():
        try:
            _token, new_key = services.api_token_create(user=request.user, **form.cleaned_data)
        except ServiceError as error:
            form.add_error(error.field if error.field in form.fields else None, error.message)
        else:
            form = TokenForm()
    tokens = selectors.api_tokens_for_user(user=request.user)
    return render(request, "portal/api_tokens.html", {"form": form, "tokens": tokens, "new_key": new_key})


@login_required
@require_POST
def api_token_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    token = get_object_or_404(selectors.api_tokens_for_user(user=request.user), pk=pk)
    services.api_token_revoke(actor=request.user, token=token)
    messages.success(request, _("The token “%(name)s” is revoked.") % {"name": token.name})
    return redirect("portal:api_tokens")


def _is_local(request: HttpRequest, url: str) -> bool:
    return url_has_allowed_host_and_scheme(url, allowed_hosts={request.get_host()}, require_https=request.is_secure())


def set_language_cookie(response: HttpResponse, language: str) -> HttpResponse:
    """Remember the portal language in the browser (Django's language cookie, read by LocaleMiddleware)."""
    response.set_cookie(
        settings.LANGUAGE_COOKIE_NAME,
        language,
        max_age=settings.LANGUAGE_COOKIE_AGE,
        path=settings.LANGUAGE_COOKIE_PATH,
        domain=settings.LANGUAGE_COOKIE_DOMAIN,
        secure=settings.LANGUAGE_COOKIE_SECURE,
        httponly=settings.LANGUAGE_COOKIE_HTTPONLY,
        samesite=settings.LANGUAGE_COOKIE_SAMESITE,
    )
    return response


@require_POST
def set_language(request: HttpRequest) -> HttpResponse:
    """Switch the portal language; a signed-in member's choice is also kept for their emails."""
    form = LanguageForm(request.POST)
    target = request.POST.get("next") or "/"
    if not _is_local(request, target):
        target = "/"
    if not form.is_valid():
        return redirect(target)
    language = form.cleaned_data["language"]
    translation.activate(language)
    if request.user.is_authenticated:
        member = member_ensure(user=request.user)
        if member.locale != language:
            member_profile_update(member=member, actor=request.user, locale=language)
    return set_language_cookie(HttpResponseRedirect(target), language)
