"""Attachments: screenshots and logs, accepted only when their content is what their name says, never executed."""

from __future__ import annotations

import io
import uuid
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction
from django.utils.translation import gettext as _
from PIL import Image, UnidentifiedImageError

from community.errors import ServiceError
from community.services import audit_record, model_snapshot
from feedback.models import Attachment, FeedbackItem
from feedback.services.common import ensure_can_post
from members.models import Member

MAX_BYTES = getattr(settings, "FEEDBACK_ATTACHMENT_MAX_BYTES", 10 * 1024 * 1024)
MAX_PER_ITEM = 5
MAX_IMAGE_PIXELS = 40_000_000
# Extension -> the Pillow format its content must have, and the content type it is served with.
IMAGE_TYPES = {
    "png": ("PNG", "image/png"),
    "jpg": ("JPEG", "image/jpeg"),
    "jpeg": ("JPEG", "image/jpeg"),
    "gif": ("GIF", "image/gif"),
    "webp": ("WEBP", "image/webp"),
}
LOG_EXTENSIONS = {"log", "txt"}
# Programs and archives, whatever their name says: Windows, ELF, Mach-O, scripts, zip/jar/apk, wasm.
EXECUTABLE_SIGNATURES = (
    b"MZ",
    b"\x7fELF",
    b"\xca\xfe\xba\xbe",
    b"\xfe\xed\xfa\xce",
    b"\xfe\xed\xfa\xcf",
    b"\xce\xfa\xed\xfe",
    b"\xcf\xfa\xed\xfe",
    b"#!",
    b"PK\x03\x04",
    b"\x00asm",
)


@dataclass(frozen=True)
class CheckedFile:
    kind: str
    extension: str
    content_type: str
    original_name: str
    data: bytes
    width: int | None = None
    height: int | None = None


def _read(upload: Any) -> bytes:
    if hasattr(upload, "seek"):
        upload.seek(0)
    data = upload.read()
    if hasattr(upload, "seek"):
        upload.seek(0)
    return data


def attachment_check(upload: Any) -> CheckedFile:
    """Validate one uploaded file by its content; raises ServiceError(field="attachments") when refused."""
    name = (getattr(upload, "name", "") or "").rsplit("/", 1)[-1].rsplit("\\", 1)[-1][:200] or "file"
    size = getattr(upload, "size", None)
    limit_mb = MAX_BYTES // (1024 * 1024)
    if size is not None and size > MAX_BYTES:
        raise ServiceError(
            _("“%(name)s” is larger than %(limit)d MB.") % {"name": name, "limit": limit_mb}, field="attachments"
        )
    data = _read(upload)
    if len(data) > MAX_BYTES:
        raise ServiceError(
            _("“%(name)s” is larger than %(limit)d MB.") % {"name": name, "limit": limit_mb}, field="attachments"
        )
    if not data:
        raise ServiceError(_("“%(name)s” is empty.") % {"name": name}, field="attachments")
    if data.startswith(EXECUTABLE_SIGNATURES):
        raise ServiceError(
            _("“%(name)s” is a program or an archive, not an image or a log; it was not accepted.") % {"name": name},
            field="attachments",
        )
    extension = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if extension in IMAGE_TYPES:
        expected_format, content_type = IMAGE_TYPES[extension]
        try:
            with Image.open(io.BytesIO(data)) as image:
                actual_format = image.format
                width, height = image.size
                image.verify()
        except (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError, ValueError):
            raise ServiceError(_("“%(name)s” is not a readable image.") % {"name": name}, field="attachments") from None
        if actual_format != expected_format:
            raise ServiceError(
                _("The content of “%(name)s” does not match its name; rename it or attach the original file.")
                % {"name": name},
                field="attachments",
            )
        if width * height > MAX_IMAGE_PIXELS:
            raise ServiceError(_("“%(name)s” has too many pixels.") % {"name": name}, field="attachments")
        return CheckedFile(
            kind=Attachment.Kind.IMAGE,
            extension="jpg" if extension == "jpeg" else extension,
            content_type=content_type,
            original_name=name,
            data=data,
            width=width,
            height=height,
        )
    if extension in LOG_EXTENSIONS:
        if b"\x00" in data:
            raise ServiceError(_("“%(name)s” is not a text log.") % {"name": name}, field="attachments")
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            raise ServiceError(
                _("“%(name)s” is not a text log (UTF-8 expected).") % {"name": name}, field="attachments"
            ) from None
        return CheckedFile(
            kind=Attachment.Kind.LOG,
            extension=extension,
            content_type="text/plain; charset=utf-8",
            original_name=name,
            data=data,
        )
    raise ServiceError(
        _("“%(name)s”: attach images (PNG, JPEG, GIF, WebP) or logs (.log, .txt).") % {"name": name},
        field="attachments",
    )


def attachments_check(uploads: list[Any], *, already: int = 0) -> list[CheckedFile]:
    if already + len(uploads) > MAX_PER_ITEM:
        raise ServiceError(
            _("Attach at most %(count)d files to one piece of feedback.") % {"count": MAX_PER_ITEM},
            field="attachments",
        )
    return [attachment_check(upload) for upload in uploads]


def _store(*, item: FeedbackItem, member: Member, checked: CheckedFile) -> Attachment:
    # A random stored name: what the member called the file is kept only as text.
    attachment = Attachment(
        item=item,
        uploaded_by=member,
        kind=checked.kind,
        original_name=checked.original_name,
        content_type=checked.content_type,
        size=len(checked.data),
        width=checked.width,
        height=checked.height,
    )
    attachment.file.save(f"{uuid.uuid4().hex}.{checked.extension}", ContentFile(checked.data), save=False)
    attachment.save()
    return attachment


def attachments_store(*, item: FeedbackItem, member: Member, checked: list[CheckedFile]) -> list[Attachment]:
    return [_store(item=item, member=member, checked=one) for one in checked]


def attachment_add(*, item: FeedbackItem, member: Member, upload: Any, actor: Any) -> Attachment:
    """Add a file to an item after it was submitted: its submitter (or an operator acting as a member)."""
    ensure_can_post(member)
    with transaction.atomic():
        item = FeedbackItem.objects.select_for_update().get(pk=item.pk)
        checked = attachments_check([upload], already=item.attachments.count())
        attachment = _store(item=item, member=member, checked=checked[0])
        audit_record(actor=actor, action="feedback.attachment_add", obj=attachment, after=model_snapshot(attachment))
    return attachment
