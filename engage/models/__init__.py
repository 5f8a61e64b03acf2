"""Engagement models: events, content, operator messages, retention settings and job runs."""

from engage.models.content import Announcement, Answer, Article, KnowledgeCategory, Question, Topic, TopicReply
from engage.models.events import Event, EventRegistration, LotteryDraw
from engage.models.jobs import JobRun, RetentionSettings
from engage.models.messages import OperatorMessage

__all__ = [
    "Announcement",
    "Answer",
    "Article",
    "Event",
    "EventRegistration",
    "JobRun",
    "KnowledgeCategory",
    "LotteryDraw",
    "OperatorMessage",
    "Question",
    "RetentionSettings",
    "Topic",
    "TopicReply",
]
