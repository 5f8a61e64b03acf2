"""The rewards shop in the portal: the catalogue, a reward with its redeem form, and the member's redemptions."""

from __future__ import annotations

import uuid

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from community.errors import ServiceError
from members.services import member_ensure
from rewards.models import Reward
from rewards.selectors import ledger as ledger_selectors
from rewards.selectors import shop as shop_selectors
from rewards.services import expiry as expiry_services
from rewards.services import shop as shop_services


class RedeemForm(forms.Form):
    # A one-time token rendered with the form: submitting the same form twice redeems once.
    token = forms.UUIDField(widget=forms.HiddenInput)
    note = forms.CharField(
        label=gettext_lazy("Shipping address or contact note"),
        required=False,
        max_length=shop_services.NOTE_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=gettext_lazy("Where to send a gift, or how the team can reach you."),
    )


@login_required
def shop_catalogue(request: HttpRequest) -> HttpResponse:
    member = member_ensure(user=request.user)
    context = {
        "rewards": list(shop_selectors.reward_catalogue(member=member)),
        "balance": ledger_selectors.balance_for_member(member=member),
        "level": shop_selectors.level_held(member=member),
        "expiring": expiry_services.expiry_forecast_for_member(member=member),
        "now": timezone.now(),
    }
    return render(request, "rewards/shop/catalogue.html", context)


@login_required
def shop_reward(request: HttpRequest, pk: int) -> HttpResponse:
    member = member_ensure(user=request.user)
    reward = get_object_or_404(shop_selectors.reward_visible(member=member), pk=pk)
    if request.method == "POST":
        form = RedeemForm(request.POST)
        if form.is_valid():
            try:
                result = shop_services.reward_redeem(
                    member=member,
                    reward=reward,
                    idempotency_key=f"form:{form.cleaned_data['token']}",
                    note=form.cleaned_data["note"],
                )
            except ServiceError as error:
                form.add_error(error.field if error.field in form.fields else None, error.message)
            else:
                if result.created:
                    messages.success(request, _("You redeemed “%(name)s”.") % {"name": reward.name})
                return redirect("rewards:shop_redemption", pk=result.redemption.pk)
        status = 400
    else:
        form = RedeemForm(initial={"token": uuid.uuid4()})
        status = 200
    context = {
        "reward": reward,
        "form": form,
        "balance": ledger_selectors.balance_for_member(member=member),
        "now": timezone.now(),
        "is_coupon": reward.kind == Reward.Kind.COUPON,
    }
    return render(request, "rewards/shop/reward_detail.html", context, status=status)


@login_required
def shop_redemptions(request: HttpRequest) -> HttpResponse:
    member = member_ensure(user=request.user)
    # Codes count as shown once this page lists them; mark them before reading so a code freed by a concurrent
    # cancellation is never displayed.
    shop_services.redemption_codes_reveal(member=member)
    page = Paginator(shop_selectors.redemptions_for_member(member=member), 20).get_page(request.GET.get("page"))
    return render(request, "rewards/shop/redemptions.html", {"page": page})


@login_required
def shop_redemption(request: HttpRequest, pk: int) -> HttpResponse:
    member = member_ensure(user=request.user)
    shop_services.redemption_codes_reveal(member=member)
    redemption = get_object_or_404(shop_selectors.redemptions_for_member(member=member), pk=pk)
    return render(request, "rewards/shop/redemption_detail.html", {"redemption": redemption})


urlpatterns = [
    path("shop/", shop_catalogue, name="shop"),
    path("shop/<int:pk>/", shop_reward, name="shop_reward"),
    path("shop/redemptions/", shop_redemptions, name="shop_redemptions"),
    path("shop/redemptions/<int:pk>/", shop_redemption, name="shop_redemption"),
]
