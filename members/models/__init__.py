"""Accounts and member profiles (`accounts`), recruitment rounds and screening (`recruitment`)."""

from members.models.accounts import TIME_ZONE_CHOICES, AgeBand, Member, Tag, User, UserManager
from members.models.recruitment import (
    Answer,
    Application,
    Choice,
    DecisionTemplate,
    ExitSurvey,
    Interview,
    NumberRange,
    Question,
    Round,
    RoundQuota,
    Scorecard,
    SegmentationSettings,
    UsageImport,
    UsageMetric,
)

__all__ = [
    "TIME_ZONE_CHOICES",
    "AgeBand",
    "Answer",
    "Application",
    "Choice",
    "DecisionTemplate",
    "ExitSurvey",
    "Interview",
    "Member",
    "NumberRange",
    "Question",
    "Round",
    "RoundQuota",
    "Scorecard",
    "SegmentationSettings",
    "Tag",
    "UsageImport",
    "UsageMetric",
    "User",
    "UserManager",
]
