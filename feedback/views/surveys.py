"""Portal: surveys to answer, and answering one."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path
from django.utils import timezone
from django.utils.translation import gettext as _

from community.errors import ServiceError
from feedback import selectors
from feedback import services as feedback_services
from feedback.models import Survey, SurveyQuestion
from members.services import member_ensure


def survey_form_class(survey: Survey) -> type[forms.Form]:
    fields: dict[str, forms.Field] = {}
    for question in survey.questions.all():
        name = f"q{question.pk}"
        if question.kind == SurveyQuestion.Kind.NPS:
            choices = [(str(n), str(n)) for n in range(11)]
            fields[name] = forms.ChoiceField(
                label=question.prompt,
                choices=choices,
                widget=forms.RadioSelect(attrs={"class": "scale"}),
                required=question.required,
            )
        elif question.kind == SurveyQuestion.Kind.CSAT:
            choices = [(str(n), str(n)) for n in range(1, 6)]
            fields[name] = forms.ChoiceField(
                label=question.prompt,
                choices=choices,
                widget=forms.RadioSelect(attrs={"class": "scale"}),
                required=question.required,
            )
        elif question.kind == SurveyQuestion.Kind.CHOICE:
            choices = [(str(choice), str(choice)) for choice in question.choices or []]
            fields[name] = forms.ChoiceField(
                label=question.prompt, choices=choices, widget=forms.RadioSelect, required=question.required
            )
        else:
            fields[name] = forms.CharField(
                label=question.prompt,
                widget=forms.Textarea(attrs={"rows": 3}),
                required=question.required,
                max_length=5000,
            )
    return type("SurveyForm", (forms.Form,), fields)


@login_required
def survey_list(request: HttpRequest) -> HttpResponse:
    member = member_ensure(user=request.user)
    return render(request, "feedback/surveys.html", {"surveys": selectors.surveys_for_member(member=member)})


@login_required
def survey_answer(request: HttpRequest, pk: int) -> HttpResponse:
    member = member_ensure(user=request.user)
    surveys = {survey.pk: survey for survey in selectors.surveys_for_member(member=member)}
    survey = surveys.get(pk)
    if survey is None:
        raise Http404
    form_class = survey_form_class(survey)
    status = 200
    if survey.answered:
        form: Any = None
    elif request.method == "POST":
        form = form_class(request.POST)
        if form.is_valid():
            try:
                feedback_services.survey_respond(survey=survey, member=member, answers=form.cleaned_data)
            except ServiceError as error:
                form.add_error(error.field if error.field in form.fields else None, error.message)
            else:
                messages.success(request, _("Thank you for answering!"))
                return redirect("feedback:surveys")
        status = 400
    else:
        form = form_class()
    return render(
        request, "feedback/survey_answer.html", {"survey": survey, "form": form, "now": timezone.now()}, status=status
    )


urlpatterns = [
    path("surveys/", survey_list, name="surveys"),
    path("surveys/<int:pk>/", survey_answer, name="survey_answer"),
]
