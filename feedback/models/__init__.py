"""Feedback models, one module per topic; every model is importable from `feedback.models`."""

from feedback.models.items import (
    Attachment,
    FeedbackItem,
    FeedbackStatus,
    InternalNote,
    Kind,
    Priority,
    ProductArea,
    Reply,
    SlaTarget,
    StatusChange,
    Subscription,
    Vote,
)
from feedback.models.moderation import ModerationAction, Report
from feedback.models.surveys import Survey, SurveyAnswer, SurveyQuestion, SurveyResponse

__all__ = [
    "Attachment",
    "FeedbackItem",
    "FeedbackStatus",
    "InternalNote",
    "Kind",
    "ModerationAction",
    "Priority",
    "ProductArea",
    "Reply",
    "Report",
    "SlaTarget",
    "StatusChange",
    "Subscription",
    "Survey",
    "SurveyAnswer",
    "SurveyQuestion",
    "SurveyResponse",
    "Vote",
]
