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
        fields = [
            "display_name",
            "avatar",
            "bio",
            "locale",
            "time_zone",
            "age_band",
            "occupation",
            "interests",
            "needs",
        ]
        widgets = {"bio": forms.Textarea(attrs={"rows": 4}), "needs": forms.Textarea(attrs={"rows": 3})}

    def clean_avatar(self) -> Any:
        avatar = self.cleaned_data.get("avatar")
        if avatar and hasattr(avatar, "size") and avatar.size > 2 * 1024 * 1024:
            raise forms.ValidationError(_("The picture must be at most 2 MB."))
        return avatar


class LanguageForm(forms.Form):
    language = forms.ChoiceField(choices=settings.LANGUAGES)
    next = forms.CharField(required=False)


class ApplicationForm(forms.Form):
    """The screening questionnaire of a round, one field per question (`q_<question id>`)."""

    def __init__(self, *args: Any, questions: list[Any], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        from members.models import Question

        self.questions = questions
        for question in questions:
            options = {"label": question.text, "required": question.required, "help_text": question.help_text}
            kind = question.kind
            if kind == Question.Kind.SINGLE:
                field: forms.Field = forms.ChoiceField(
                    choices=[(c.pk, c.label) for c in question.choices.all()], widget=forms.RadioSelect, **options
                )
            elif kind == Question.Kind.MULTIPLE:
                field = forms.MultipleChoiceField(
                    choices=[(c.pk, c.label) for c in question.choices.all()],
                    widget=forms.CheckboxSelectMultiple,
                    **options,
                )
            elif kind == Question.Kind.NUMBER:
                field = forms.DecimalField(max_digits=12, decimal_places=2, **options)
            elif kind == Question.Kind.SCALE:
                field = forms.TypedChoiceField(
                    choices=[(n, str(n)) for n in range(1, question.scale_max + 1)],
                    coerce=int,
                    widget=forms.RadioSelect(attrs={"class": "scale"}),
                    **options,
                )
            elif kind == Question.Kind.SHORT_TEXT:
                field = forms.CharField(max_length=200, **options)
            else:
                field = forms.CharField(max_length=5000, widget=forms.Textarea(attrs={"rows": 4}), **options)
            self.fields[f"q_{question.pk}"] = field

    def answers(self) -> dict[int, Any]:
        return {question.pk: self.cleaned_data.get(f"q_{question.pk}") for question in self.questions}


class LeaveForm(forms.Form):
    reason = forms.ChoiceField(label=_("Why are you leaving?"), choices=(), widget=forms.RadioSelect)
    detail = forms.CharField(
        label=_("Anything else you want to tell us?"),
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 4}),
    )
    would_return = forms.BooleanField(label=_("I might come back one day"), required=False)
    confirm = forms.BooleanField(label=_("Yes, I want to leave the program"), required=True)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        from members.models import ExitSurvey

        self.fields["reason"].choices = ExitSurvey.Reason.choices
