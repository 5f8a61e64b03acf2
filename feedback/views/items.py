"""Portal: the feedback list, submitting, an item's page (history, votes, subscribing), my feedback, files,
and the JSON suggestions the submit form asks for while the member types a title."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from community import roles
from community.errors import ServiceError
from feedback import selectors
from feedback import services as feedback_services
from feedback.models import Attachment, FeedbackItem, Kind, ProductArea
from feedback.models.items import BODY_MAX_LENGTH
from members.services import member_ensure

PAGE_SIZE = 50


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault(
            "widget", MultipleFileInput(attrs={"accept": "image/png,image/jpeg,image/gif,image/webp,.log,.txt"})
        )
        super().__init__(*args, **kwargs)

    def clean(self, data: Any, initial: Any = None) -> list[Any]:
        if not data:
            return []
        files = data if isinstance(data, list | tuple) else [data]
        return [super(MultipleFileField, self).clean(one, initial) for one in files]


class SubmitForm(forms.Form):
    kind = forms.ChoiceField(label=gettext_lazy("Kind"), choices=Kind.choices)
    title = forms.CharField(
        label=gettext_lazy("Title"),
        max_length=200,
        widget=forms.TextInput(attrs={"autocomplete": "off", "data-similar-url": ""}),
    )
    body = forms.CharField(
        label=gettext_lazy("Description"),
        # The service gives the clear message for an over-long text; the form only stops absurd posts.
        max_length=BODY_MAX_LENGTH * 10,
        widget=forms.Textarea(attrs={"rows": 8}),
        help_text=gettext_lazy("Markdown works: **bold**, lists, links, `code`."),
    )
    area = forms.ModelChoiceField(
        label=gettext_lazy("Product area"), queryset=ProductArea.objects.filter(is_active=True), required=False
    )
    visibility = forms.ChoiceField(
        label=gettext_lazy("Who can see it"),
        choices=FeedbackItem.Visibility.choices,
        initial=FeedbackItem.Visibility.PUBLIC,
        help_text=gettext_lazy("Private feedback is seen only by you and the community team."),
    )
    attachments = MultipleFileField(
        label=gettext_lazy("Screenshots or logs"),
        required=False,
        help_text=gettext_lazy("Up to 5 files: PNG, JPEG, GIF or WebP images, or .log/.txt files, 10 MB each."),
    )
    app_version = forms.CharField(label=gettext_lazy("App version"), max_length=64, required=False)
    device = forms.CharField(label=gettext_lazy("Device"), max_length=120, required=False)
    page_url = forms.CharField(label=gettext_lazy("Page URL"), max_length=500, required=False)


class FilterForm(forms.Form):
    kind = forms.ChoiceField(
        label=gettext_lazy("Kind"), choices=[("", gettext_lazy("All kinds")), *Kind.choices], required=False
    )
    status = forms.ChoiceField(label=gettext_lazy("Status"), required=False)
    area = forms.ModelChoiceField(
        label=gettext_lazy("Product area"),
        queryset=ProductArea.objects.filter(is_active=True),
        required=False,
        empty_label=gettext_lazy("All areas"),
    )
    q = forms.CharField(label=gettext_lazy("Search"), required=False, max_length=100)
    sort = forms.ChoiceField(
        label=gettext_lazy("Sort by"),
        choices=[
            ("votes", gettext_lazy("Most votes")),
            ("impact", gettext_lazy("Highest impact")),
            ("new", gettext_lazy("Newest")),
        ],
        required=False,
    )

    def __init__(self, *args: Any, statuses: list[Any], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["status"].choices = [("", _("All statuses"))] + [(s.key, s.display_name) for s in statuses]


def _viewer(request: HttpRequest):
    return member_ensure(user=request.user), roles.is_operator(request.user)


def _list_page(request: HttpRequest, *, mine: bool, template: str) -> HttpResponse:
    member, is_operator = _viewer(request)
    statuses = list(selectors.status_list())
    form = FilterForm(request.GET or None, statuses=statuses)
    filters: dict[str, Any] = {}
    if form.is_valid():
        data = form.cleaned_data
        filters = {
            "kind": data.get("kind") or None,
            "status": data.get("status") or None,
            "area": data["area"].pk if data.get("area") else None,
            "query": data.get("q") or None,
            "sort": data.get("sort") or "votes",
        }
    items = selectors.feedback_list(member=member, is_operator=is_operator and not mine, mine=mine, **filters)
    page = Paginator(items, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    context = {"page": page, "form": form, "query": query.urlencode(), "mine": mine, "member": member}
    if mine:
        context["contribution"] = selectors.member_contribution_score(member=member)
    return render(request, template, context)


@login_required
def feedback_list(request: HttpRequest) -> HttpResponse:
    return _list_page(request, mine=False, template="feedback/list.html")


@login_required
def feedback_mine(request: HttpRequest) -> HttpResponse:
    return _list_page(request, mine=True, template="feedback/list.html")


@login_required
def feedback_submit(request: HttpRequest) -> HttpResponse:
    member = member_ensure(user=request.user)
    muted = selectors.mute_for(member=member)
    status = 200
    if request.method == "POST":
        form = SubmitForm(request.POST, request.FILES)
        if form.is_valid():
            data = form.cleaned_data
            try:
                item = feedback_services.item_submit(
                    author=member,
                    kind=data["kind"],
                    title=data["title"],
                    body=data["body"],
                    area=data["area"],
                    visibility=data["visibility"],
                    app_version=data["app_version"],
                    device=data["device"],
                    page_url=data["page_url"],
                    attachments=data["attachments"],
                    actor=request.user,
                )
            except ServiceError as error:
                form.add_error(error.field if error.field in form.fields else None, error.message)
            else:
                messages.success(request, _("Thank you! Your feedback was submitted."))
                return redirect("feedback:detail", pk=item.pk)
        status = 400
    else:
        form = SubmitForm(initial={"page_url": request.GET.get("page_url", ""), "kind": request.GET.get("kind", "")})
    form.fields["title"].widget.attrs["data-similar-url"] = reverse("feedback:similar")
    return render(request, "feedback/submit.html", {"form": form, "muted": muted}, status=status)


def _visible_item(request: HttpRequest, pk: int) -> tuple[FeedbackItem, Any, bool]:
    member, is_operator = _viewer(request)
    try:
        item = selectors.feedback_detail(pk=pk, member=member, is_operator=is_operator)
    except FeedbackItem.DoesNotExist:
        raise Http404 from None
    return item, member, is_operator


@login_required
def feedback_detail(request: HttpRequest, pk: int) -> HttpResponse:
    item, member, is_operator = _visible_item(request, pk)
    context = {
        "item": item,
        "history": selectors.feedback_history(item=item),
        "attachments": list(selectors.item_attachments(item=item)),
        "is_author": item.author_id == member.pk,
        "is_operator": is_operator,
        "can_vote": item.author_id != member.pk and item.merged_into_id is None,
    }
    return render(request, "feedback/detail.html", context)


@login_required
@require_POST
def feedback_vote(request: HttpRequest, pk: int) -> HttpResponse:
    item, member, _is_operator = _visible_item(request, pk)
    try:
        if request.POST.get("action") == "remove":
            feedback_services.vote_remove(item=item, member=member)
        else:
            feedback_services.vote_add(item=item, member=member)
    except ServiceError as error:
        messages.error(request, error.message)
    return redirect("feedback:detail", pk=item.pk)


@login_required
@require_POST
def feedback_subscribe(request: HttpRequest, pk: int) -> HttpResponse:
    item, member, _is_operator = _visible_item(request, pk)
    try:
        if request.POST.get("action") == "remove":
            feedback_services.subscription_remove(item=item, member=member)
            messages.success(request, _("You no longer follow this feedback."))
        else:
            feedback_services.subscription_add(item=item, member=member)
            messages.success(request, _("You will hear about replies and status changes."))
    except ServiceError as error:
        messages.error(request, error.message)
    return redirect("feedback:detail", pk=item.pk)


@login_required
@require_GET
def feedback_similar(request: HttpRequest) -> JsonResponse:
    """Suggestions for the title being typed: `{"results": [{"id", "title", "status", "votes", "url"}]}`."""
    member = member_ensure(user=request.user)
    items = selectors.feedback_similar(query=request.GET.get("q", "")[:200], member=member)
    return JsonResponse(
        {
            "results": [
                {
                    "id": item.pk,
                    "title": item.title,
                    "status": item.status.display_name,
                    "votes": item.vote_count,
                    "url": reverse("feedback:detail", args=[item.pk]),
                }
                for item in items
            ]
        }
    )


@login_required
def attachment_download(request: HttpRequest, pk: int) -> FileResponse:
    """Files are served as data, never run: a fixed content type, no sniffing, logs as downloads, sandboxed."""
    member, is_operator = _viewer(request)
    try:
        attachment = selectors.attachment_visible(pk=pk, member=member, is_operator=is_operator)
    except Attachment.DoesNotExist:
        raise Http404 from None
    response = FileResponse(
        attachment.file.open("rb"),
        content_type=attachment.content_type,
        as_attachment=attachment.kind != attachment.Kind.IMAGE,
        filename=attachment.original_name,
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


urlpatterns = [
    path("", feedback_list, name="list"),
    path("new/", feedback_submit, name="submit"),
    path("mine/", feedback_mine, name="mine"),
    path("similar/", feedback_similar, name="similar"),
    path("<int:pk>/", feedback_detail, name="detail"),
    path("<int:pk>/vote/", feedback_vote, name="vote"),
    path("<int:pk>/subscribe/", feedback_subscribe, name="subscribe"),
    path("files/<int:pk>/", attachment_download, name="attachment"),
]
