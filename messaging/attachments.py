"""Photos and files attached to messages: type and size limits, image previews (Pillow)."""

from __future__ import annotations

import io
import mimetypes

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.utils.translation import gettext_lazy as _
from PIL import Image, ImageOps, UnidentifiedImageError

from .models import Attachment, Message

ERR_TOO_BIG = _("The file is too large (at most %(mb)d MB).")
ERR_TYPE = _("This kind of file cannot be attached.")
ERR_PIXELS = _("The picture is too large (at most %(mp)d million pixels).")
THUMB_SIZE = (640, 640)
MAX_PIXELS = 50_000_000  # a 50-megapixel photo; a "decompression bomb" declares far more


def attachment_check(upload) -> str:
    """Validate an upload; return its content type (images are recognised by content)."""
    if upload.size > settings.HONBU_ATTACHMENT_MAX_BYTES:
        raise ValidationError(
            ERR_TOO_BIG % {"mb": settings.HONBU_ATTACHMENT_MAX_BYTES // (1024 * 1024)}
        )
    upload.seek(0)
    try:
        with Image.open(upload) as img:
            # The size is in the header: refuse before anything is decoded (a 47 KB PNG can
            # declare 20000×20000 pixels, 400 million of them).
            if img.width * img.height > MAX_PIXELS:
                raise ValidationError(ERR_PIXELS % {"mp": MAX_PIXELS // 1_000_000})
            img.verify()
            content_type = Image.MIME.get(img.format or "", "")
    except Image.DecompressionBombError:
        raise ValidationError(ERR_PIXELS % {"mp": MAX_PIXELS // 1_000_000}) from None
    except (UnidentifiedImageError, OSError, SyntaxError):
        content_type = mimetypes.guess_type(upload.name)[0] or ""
        if content_type.startswith("image/"):
            raise ValidationError(ERR_TYPE) from None  # claims to be an image but is not
    finally:
        upload.seek(0)
    if content_type not in settings.HONBU_ATTACHMENT_TYPES:
        raise ValidationError(ERR_TYPE)
    return content_type


def attachment_store(*, message: Message, upload) -> Attachment:
    content_type = attachment_check(upload)
    att = Attachment(
        message=message,
        group_id=message.group_id,
        original_name=upload.name[:255],
        content_type=content_type,
        size=upload.size,
    )
    att.file.save(upload.name, upload, save=False)
    if content_type.startswith("image/"):
        upload.seek(0)
        with Image.open(upload) as img:
            img = ImageOps.exif_transpose(img)
            att.width, att.height = img.size
            img.thumbnail(THUMB_SIZE)
            buf = io.BytesIO()
            img.convert("RGB").save(buf, "JPEG", quality=80)
        att.thumbnail.save("thumb.jpg", ContentFile(buf.getvalue()), save=False)
    att.save()
    return att
