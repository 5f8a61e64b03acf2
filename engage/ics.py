"""iCalendar (RFC 5545) export of events: one event, or a feed of every published one."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from django.conf import settings
from django.utils import timezone

from engage.models import Event


def _escape(text: str) -> str:
    return (
        text.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\r\n", "\\n").replace("\n", "\\n")
    )


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def _fold(line: str) -> list[str]:
    # Lines longer than 75 octets continue on the next line after a space.
    out, data = [], line.encode()
    while len(data) > 75:
        cut = 75
        while (data[cut] & 0xC0) == 0x80:  # never split a UTF-8 character
            cut -= 1
        out.append(data[:cut].decode())
        data = b" " + data[cut:]
    out.append(data.decode())
    return out


def calendar(events: Iterable[Event], *, name: str) -> str:
    host = settings.SITE_URL.split("//", 1)[-1].split("/", 1)[0]
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//Hearth//Community events//EN", "CALSCALE:GREGORIAN"]
    lines.append(f"X-WR-CALNAME:{_escape(name)}")
    now = _stamp(timezone.now())
    for event in events:
        location = event.location or event.online_url
        lines += [
            "BEGIN:VEVENT",
            f"UID:event-{event.pk}@{host}",
            f"DTSTAMP:{now}",
            f"DTSTART:{_stamp(event.starts_at)}",
            f"DTEND:{_stamp(event.ends_at)}",
            f"SUMMARY:{_escape(event.title)}",
            f"DESCRIPTION:{_escape(event.description)}",
            f"URL:{settings.SITE_URL}/events/{event.pk}/",
            f"STATUS:{'CANCELLED' if event.status == Event.Status.CANCELLED else 'CONFIRMED'}",
        ]
        if location:
            lines.append(f"LOCATION:{_escape(location)}")
        lines.append("END:VEVENT")
    lines.append("END:VCALENDAR")
    return "\r\n".join(folded for line in lines for folded in _fold(line)) + "\r\n"
