"""Content pages: the community hub (announcements, topics, questions, the checklist), the knowledge base."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from community.errors import ServiceError
from engage import selectors
from engage.models import Answer, Question, TopicReply
from engage.services import content as content_services
from engage.services import onboarding
from members.services import member_ensure


class ReplyForm(forms.Form):
    body = forms.CharField(
        label=gettext_lazy("Your reply"),
        max_length=content_services.BODY_MAX,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=gettext_lazy("Markdown works: **bold**, lists, links."),
    )


class QuestionForm(forms.Form):
    title = forms.CharField(label=gettext_lazy("Your question"), max_length=200)
    body = forms.CharField(
        label=gettext_lazy("Details"),
        required=False,
        max_length=content_services.BODY_MAX,
        widget=forms.Textarea(attrs={"rows": 4}),
    )


class ReportForm(forms.Form):
    reason = forms.CharField(label=gettext_lazy("Reason"), max_length=64)
    note = forms.CharField(label=gettext_lazy("Note"), required=False, max_length=1000)


def _form_error(form: forms.Form, error: ServiceError) -> None:
    form.add_error(error.field if error.field in form.fields else None, error.message)


@login_required
def hub(request: HttpRequest) -> HttpResponse:
    member = member_ensure(user=request.user)
    onboarding.onboarding_sync(members=[member])
    context = {
        "announcements": list(selectors.announcement_list()[:5]),
        "topics": list(selectors.topic_list()[:5]),
        "questions": list(selectors.question_list()[:5]),
        "events": list(selectors.event_list_for_member(member=None, upcoming_only=True)[:3]),
        "checklist": selectors.onboarding_checklist(member=member),
    }
    return render(request, "engage/content/hub.html", context)


@login_required
def topic_detail(request: HttpRequest, pk: int) -> HttpResponse:
    member = member_ensure(user=request.user)
    topic = get_object_or_404(selectors.topic_list(), pk=pk)
    form = ReplyForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                content_services.topic_reply_create(member=member, topic=topic, body=form.cleaned_data["body"])
            except ServiceError as error:
                _form_error(form, error)
            else:
                messages.success(request, _("Your reply is posted."))
                return redirect("engage:topic_detail", pk=pk)
        status = 400
    replies = selectors.topic_replies(topic=topic)
    return render(
        request, "engage/content/topic.html", {"topic": topic, "replies": replies, "form": form}, status=status
    )


@login_required
def question_list(request: HttpRequest) -> HttpResponse:
    member = member_ensure(user=request.user)
    form = QuestionForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                question = content_services.question_ask(member=member, **form.cleaned_data)
            except ServiceError as error:
                _form_error(form, error)
            else:
                return redirect("engage:question_detail", pk=question.pk)
        status = 400
    unanswered = request.GET.get("unanswered") == "1"
    page = Paginator(selectors.question_list(unanswered=unanswered), 20).get_page(request.GET.get("page"))
    return render(
        request, "engage/content/questions.html", {"page": page, "form": form, "unanswered": unanswered}, status=status
    )


@login_required
def question_detail(request: HttpRequest, pk: int) -> HttpResponse:
    member = member_ensure(user=request.user)
    question = get_object_or_404(selectors.question_list(), pk=pk)
    form = ReplyForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                content_services.question_answer(member=member, question=question, body=form.cleaned_data["body"])
            except ServiceError as error:
                _form_error(form, error)
            else:
                messages.success(request, _("Thanks for answering!"))
                return redirect("engage:question_detail", pk=pk)
        status = 400
    answers = selectors.question_answers(question=question)
    return render(
        request,
        "engage/content/question.html",
        {"question": question, "answers": answers, "form": form, "is_mine": question.member_id == member.pk},
        status=status,
    )


REPORTABLE = {"reply": TopicReply, "answer": Answer, "question": Question}


@login_required
@require_POST
def report(request: HttpRequest, kind: str, pk: int) -> HttpResponse:
    """Report a reply, an answer or a question to the moderators."""
    model = REPORTABLE.get(kind)
    if model is None:
        raise Http404
    target = get_object_or_404(model.objects.filter(hidden_at__isnull=True), pk=pk)
    member = member_ensure(user=request.user)
    form = ReportForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Say why you are reporting this."))
    else:
        try:
            content_services.content_report(reporter=member, target=target, **form.cleaned_data)
        except ServiceError as error:
            messages.error(request, error.message)
        else:
            messages.success(request, _("Thank you: the moderators will look at it."))
    if isinstance(target, TopicReply):
        return redirect("engage:topic_detail", pk=target.topic_id)
    question_id = target.question_id if isinstance(target, Answer) else target.pk
    return redirect("engage:question_detail", pk=question_id)


@login_required
def knowledge_base(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("q", "").strip()[:200]
    categories = list(selectors.knowledge_categories())
    category = next((c for c in categories if c.slug == request.GET.get("category")), None)
    faq = request.GET.get("faq") == "1"
    articles = selectors.article_search(query=query, category=category, faq=faq)
    page = Paginator(articles, 20).get_page(request.GET.get("page"))
    context = {"categories": categories, "category": category, "query": query, "faq": faq, "page": page}
    return render(request, "engage/content/kb.html", context)


@login_required
def article_detail(request: HttpRequest, pk: int) -> HttpResponse:
    article = get_object_or_404(selectors.article_search(), pk=pk)
    return render(request, "engage/content/article.html", {"article": article})


@login_required
def announcement_list(request: HttpRequest) -> HttpResponse:
    page = Paginator(selectors.announcement_list(), 20).get_page(request.GET.get("page"))
    return render(request, "engage/content/announcements.html", {"page": page})


@login_required
def topic_list(request: HttpRequest) -> HttpResponse:
    page = Paginator(selectors.topic_list(), 20).get_page(request.GET.get("page"))
    return render(request, "engage/content/topics.html", {"page": page})
