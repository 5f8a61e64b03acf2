"""An admin action that asks for a few more values (a reason, a status) on an intermediate page first."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.http import HttpRequest
from django.template.response import TemplateResponse


def action_with_form(
    modeladmin: Any,
    request: HttpRequest,
    queryset: Any,
    *,
    form_class: type[forms.Form],
    title: str,
    intro: str,
    submit_label: str,
    apply: Callable[[forms.Form], None],
) -> TemplateResponse | None:
    """Show `form_class` for the selected rows; once posted valid, call `apply(form)` (None: back to the list)."""
    form = form_class(request.POST if "apply" in request.POST else None)
    if "apply" in request.POST and form.is_valid():
        apply(form)
        return None
    context = {
        **modeladmin.admin_site.each_context(request),
        "opts": modeladmin.model._meta,
        "title": title,
        "intro": intro,
        "submit_label": submit_label,
        "objects": list(queryset[:200]),
        "form": form,
        "action": request.POST.get("action", ""),
        "action_checkbox_name": ACTION_CHECKBOX_NAME,
    }
    return TemplateResponse(request, "feedback/admin/action_form.html", context)
