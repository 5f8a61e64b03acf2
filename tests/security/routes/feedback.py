"""Feedback: items, votes, subscriptions, attachments, surveys and moderation reports."""

from __future__ import annotations

from django.contrib.contenttypes.models import ContentType

from feedback.models import Attachment, FeedbackItem, FeedbackStatus, Report
from tests.feedback.factories import FeedbackItemFactory, QuestionFactory, png_upload
from tests.security.routes import Route, statuses

ROUTES: dict[str, Route] = {
    "feedback:list": Route(statuses(302, 200, 200, 200, 200)),
    "feedback:mine": Route(statuses(302, 200, 200, 200, 200)),
    "feedback:similar": Route(statuses(302, 200, 200, 200, 200), data={"q": "export"}),
    "feedback:submit": Route(statuses(302, 200, 200, 200, 200)),
    "feedback:detail": Route(statuses(302, 200, 404, 404, 200), kwargs={"pk": "private_feedback"}),
    "feedback:vote": Route(statuses(302, 302, 404, 404, 302), method="post", kwargs={"pk": "private_feedback"}),
    "feedback:subscribe": Route(statuses(302, 302, 404, 404, 302), method="post", kwargs={"pk": "private_feedback"}),
    "feedback:attachment": Route(statuses(302, 200, 404, 404, 200), kwargs={"pk": "attachment"}),
    "feedback:report": Route(
        statuses(302, 200, 200, 200, 200), kwargs={"kind": "feedback_kind", "pk": "public_feedback"}
    ),
    "feedback:surveys": Route(statuses(302, 200, 200, 200, 200)),
    "feedback:survey_answer": Route(statuses(302, 200, 200, 200, 200), kwargs={"pk": "survey"}),
    "feedback-list": Route(statuses(401, 200, 200, 200, 200)),
    "feedback-detail": Route(statuses(401, 200, 404, 404, 200), kwargs={"pk": "private_feedback"}),
    "feedback-attachments": Route(statuses(401, 415, 404, 404, 415), method="post", kwargs={"pk": "private_feedback"}),
    "feedback-change-status": Route(
        statuses(401, 403, 403, 403, 400), method="post", kwargs={"pk": "private_feedback"}
    ),
    "feedback-merge": Route(statuses(401, 403, 403, 403, 400), method="post", kwargs={"pk": "private_feedback"}),
    "feedback-replies": Route(statuses(401, 200, 404, 404, 200), kwargs={"pk": "private_feedback"}),
    "feedback-subscribe": Route(statuses(401, 200, 404, 404, 400), method="post", kwargs={"pk": "private_feedback"}),
    "feedback-vote": Route(statuses(401, 400, 404, 404, 400), method="post", kwargs={"pk": "private_feedback"}),
    "feedback-status-list": Route(statuses(401, 200, 200, 200, 200)),
    "feedback-status-detail": Route(statuses(401, 200, 200, 200, 200), kwargs={"key": "feedback_status"}),
    "report-list": Route(statuses(401, 200, 200, 200, 200)),
    "report-detail": Route(statuses(401, 200, 404, 200, 200), kwargs={"pk": "report"}),
    "survey-list": Route(statuses(401, 200, 200, 200, 200)),
    "survey-detail": Route(statuses(401, 200, 200, 200, 200), kwargs={"pk": "survey"}),
    "survey-respond": Route(statuses(401, 400, 400, 400, 400), method="post", kwargs={"pk": "survey"}),
    "survey-results": Route(statuses(401, 403, 403, 403, 200), kwargs={"pk": "survey"}),
}


def objects(world) -> dict[str, object]:
    member = world.member
    private = FeedbackItemFactory(
        author=member, title=f"Private {world.secret}", body=world.secret, visibility=FeedbackItem.Visibility.PRIVATE
    )
    public = FeedbackItemFactory(author=world.other_member, title="A public idea", body="Dark mode, please.")
    attachment = Attachment.objects.create(
        item=private,
        uploaded_by=member,
        kind="image",
        file=png_upload(),
        original_name="s.png",
        content_type="image/png",
        size=100,
    )
    question = QuestionFactory()
    report = Report.objects.create(
        reporter=member,
        target_type=ContentType.objects.get_for_model(FeedbackItem),
        target_id=str(public.pk),
        target_member=world.other_member,
        reason=Report.Reason.SPAM,
        note=world.secret,
    )
    return {
        "private_feedback": private,
        "public_feedback": public,
        "attachment": attachment,
        "survey": question.survey,
        "report": report,
        "feedback_kind": "feedback",
        "feedback_status": FeedbackStatus.objects.order_by("pk").first().key,
    }
