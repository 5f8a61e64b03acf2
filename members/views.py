"""Portal pages of recruitment: open rounds, the application form (works for visitors: applying creates the
account through allauth's sign-up), the member's own applications, and leaving the program."""

from __future__ import annotations

from allauth.account.forms import SignupForm
from allauth.account.internal.flows.signup import complete_signup
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from community.errors import ServiceError
from members import selectors
from members.adapters import APPLYING_FLAG
from members.forms import ApplicationForm, LeaveForm
from members.models import Application, Member, Round
from members.services import decisions, leaving
from members.services.accounts import member_ensure
from members.services.applications import active_application, application_submit, round_questions

app_name = "members"


def round_list(request: HttpRequest) -> HttpResponse:
    rounds = list(selectors.rounds_open())
    return render(request, "members/rounds.html", {"rounds": rounds})


def _language() -> str:
    return "zh-hans" if (get_language() or "").startswith("zh") else "en"


def apply(request: HttpRequest, slug: str) -> HttpResponse:
    round = get_object_or_404(Round, slug=slug)
    member = member_ensure(user=request.user) if request.user.is_authenticated else None
    if not round.is_open():
        return render(request, "members/round_closed.html", {"round": round})
    if member is not None and active_application(round=round, member=member) is not None:
        messages.info(request, _("You have already applied to this round."))
        return redirect("members:my_applications")
    questions = round_questions(round=round)
    signup = None
    status = 200
    if request.method == "POST":
        form = ApplicationForm(request.POST, questions=questions)
        signup = SignupForm(request.POST) if member is None else None
        signup_valid = signup.is_valid() if signup is not None else True
        if form.is_valid() and signup_valid:
            user = None
            try:
                with transaction.atomic():
                    if signup is not None:
                        setattr(request, APPLYING_FLAG, True)
                        user = signup.save(request)  # allauth's adapter creates the Member (member_create)
                        applicant = user.member
                    else:
                        applicant = member
                    result = application_submit(
                        round=round,
                        member=applicant,
                        answers=form.answers(),
                        actor=applicant.user,
                        language=_language(),
                    )
            except ValidationError as error:
                for name, problems in error.message_dict.items():
                    form.add_error(name if name in form.fields else None, problems)
            except ServiceError as error:
                form.add_error(error.field if error.field in form.fields else None, error.message)
            else:
                if user is not None:
                    # Sends the verification e-mail and signs the visitor in when the site allows it.
                    complete_signup(request, user=user, redirect_url=reverse("members:my_applications"))
                    if not request.user.is_authenticated:
                        return render(request, "members/applied.html", {"round": round, "email": user.email})
                if result.created:
                    messages.success(request, _("Thank you: your application was received."))
                return redirect("members:my_applications")
        status = 400
    else:
        form = ApplicationForm(questions=questions)
        signup = SignupForm() if member is None else None
    context = {"round": round, "form": form, "signup": signup, "now": timezone.now()}
    return render(request, "members/apply.html", context, status=status)


@login_required
def my_applications(request: HttpRequest) -> HttpResponse:
    member = member_ensure(user=request.user)
    applications = list(selectors.applications_for_member(member=member))
    return render(request, "members/my_applications.html", {"applications": applications, "member": member})


@login_required
@require_POST
def application_withdraw(request: HttpRequest, pk: int) -> HttpResponse:
    member = member_ensure(user=request.user)
    application = get_object_or_404(Application, pk=pk, member=member)
    try:
        decisions.application_decide(application=application, status=Application.Status.WITHDRAWN, actor=request.user)
    except ServiceError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, _("Your application was withdrawn."))
    return redirect("members:my_applications")


@login_required
def leave(request: HttpRequest) -> HttpResponse:
    member = member_ensure(user=request.user)
    if member.status != Member.Status.ACTIVE:
        return render(request, "members/left.html", {"member": member})
    status = 200
    if request.method == "POST":
        form = LeaveForm(request.POST)
        if form.is_valid():
            try:
                leaving.member_leave(
                    member=member,
                    reason=form.cleaned_data["reason"],
                    detail=form.cleaned_data["detail"],
                    would_return=form.cleaned_data["would_return"],
                    actor=request.user,
                )
            except ServiceError as error:
                form.add_error(error.field if error.field in form.fields else None, error.message)
            else:
                messages.success(request, _("You have left the program. Thank you for everything you shared with us."))
                return redirect("members:leave")
        status = 400
    else:
        form = LeaveForm()
    return render(request, "members/leave.html", {"form": form, "member": member}, status=status)


urlpatterns = [
    path("apply/", round_list, name="rounds"),
    path("apply/<slug:slug>/", apply, name="apply"),
    path("my-applications/", my_applications, name="my_applications"),
    path("my-applications/<int:pk>/withdraw/", application_withdraw, name="application_withdraw"),
    path("leave/", leave, name="leave"),
]
