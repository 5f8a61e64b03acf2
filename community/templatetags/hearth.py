from django import template
from django.utils.safestring import SafeString

from community.activity_labels import activity_label
from community.markdown import render_markdown

register = template.Library()


@register.filter(name="markdown")
def markdown_filter(text: str) -> SafeString:
    """`{{ text|markdown }}`: Markdown rendered and sanitised."""
    return render_markdown(text)


@register.filter(name="activity_label")
def activity_label_filter(verb: str) -> str:
    """`{{ activity.verb|activity_label }}`: the verb as members read it, in their language."""
    return activity_label(verb)
