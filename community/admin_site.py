from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.utils.translation import gettext_lazy as _

from community import selectors


class HearthAdminSite(admin.AdminSite):
    site_header = _("Hearth operations")
    site_title = _("Hearth")
    index_title = _("Program dashboard")

    def index(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> TemplateResponse:
        extra_context = {**(extra_context or {}), "dashboard": selectors.operator_dashboard()}
        return super().index(request, extra_context)
