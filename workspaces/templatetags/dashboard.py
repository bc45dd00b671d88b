"""Template filters for how the dashboard shows long identifiers and times."""

import re
from datetime import datetime

from django import template
from django.utils import timezone
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.timesince import timesince

register = template.Library()

# After these, a line may break: topic levels, the @ of a full username, hyphens of a name.
_BREAK_AFTER = re.compile(r"([/@\-.])")


@register.filter
def breakable(value: object) -> SafeString:
    """The value escaped, with a break opportunity (<wbr>) after each / @ - and ., so a long topic or
    username wraps between its parts ("sensors/ private") rather than mid-word."""
    return mark_safe(_BREAK_AFTER.sub(r"\1<wbr>", escape(str(value))))  # noqa: S308 (escaped above)


@register.filter
def ago(moment: datetime | None) -> str:
    """ "just now" under a minute, else "5 minutes ago" (never "0 minutes ago")."""
    if moment is None:
        return ""
    if (timezone.now() - moment).total_seconds() < 60:
        return "just now"
    return f"{timesince(moment)} ago"
