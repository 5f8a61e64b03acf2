from django import template
from django.utils.safestring import SafeString

from community.markdown import render_markdown

register = template.Library()


@register.filter(name="markdown")
def markdown_filter(text: str) -> SafeString:
    """`{{ text|markdown }}`: Markdown rendered and sanitised."""
    return render_markdown(text)
