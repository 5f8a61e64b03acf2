from __future__ import annotations

from datetime import timedelta
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from analytics.models import KpiTarget
from analytics.selectors.dashboard import default_period, kpi_choices
from analytics.selectors.scope import Period, Scope, external
from members.models import Member, Tag

MAX_DAYS = 731


class ScopeForm(forms.Form):
    """Period and breakdown chosen on a dashboard; every field is optional (the default is the last 30 days)."""

    start = forms.DateField(label=_("From"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(label=_("To"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    segment = forms.ChoiceField(label=_("Segment"), required=False)
    tag = forms.TypedChoiceField(label=_("Tag"), required=False, coerce=int, empty_value=None)
    level = forms.TypedChoiceField(label=_("Level"), required=False, coerce=int, empty_value=None)
    round = forms.TypedChoiceField(label=_("Recruitment round"), required=False, coerce=int, empty_value=None)

    def __init__(self, *args: Any, through=None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        from rewards.selectors.analytics import level_choices

        everyone = [("", _("Everyone"))]
        self.fields["segment"].choices = everyone + list(Member.Segment.choices)
        self.fields["tag"].choices = everyone + [(t.pk, t.name) for t in Tag.objects.order_by("name")]
        self.fields["level"].choices = everyone + level_choices()
        rounds_list = external("members.selectors", "rounds_list")
        if rounds_list is None:
            del self.fields["round"]
        else:
            self.fields["round"].choices = everyone + [(pk, name) for pk, name in rounds_list()]
        self.through = through

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        fallback = default_period(through=self.through)
        start, end = data.get("start"), data.get("end")
        end = end or (start + timedelta(days=29) if start else fallback.end)
        start = start or end - timedelta(days=29)
        if end < start:
            raise forms.ValidationError(_("The end date must not be before the start date."))
        if (end - start).days >= MAX_DAYS:
            raise forms.ValidationError(_("Choose at most two years."))
        data["start"], data["end"] = start, end
        return data

    def period(self) -> Period:
        return Period(self.cleaned_data["start"], self.cleaned_data["end"])

    def scope(self) -> Scope:
        data = self.cleaned_data
        return Scope(
            segment=data.get("segment") or None,
            tag_id=data.get("tag"),
            level_id=data.get("level"),
            round_id=data.get("round"),
        )


class KpiTargetForm(forms.Form):
    kpi = forms.ChoiceField(label=_("KPI"))
    comparison = forms.ChoiceField(label=_("Comparison"), choices=KpiTarget.Comparison.choices)
    value = forms.FloatField(label=_("Target value"))
    window_days = forms.IntegerField(label=_("Window (days)"), min_value=1, max_value=366, initial=30)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["kpi"].choices = kpi_choices()


class CohortForm(forms.Form):
    min_active_days = forms.IntegerField(
        label=_("Count as retained after at least this many active days in the week"),
        min_value=1,
        max_value=7,
        required=False,
        initial=1,
    )
