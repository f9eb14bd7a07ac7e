"""Uploaded bytes to pixels: only JPEG, PNG, WebP and BMP, and never an absurd pixel count.

The size check reads the header only, so a decompression bomb (a small file that claims a huge
canvas) is refused before a single pixel is decoded.
"""

from __future__ import annotations

import io
import warnings

from PIL import Image, ImageOps

from mini_streamio.schemas import ErrorCode

ACCEPTED_FORMATS = ("JPEG", "PNG", "WEBP", "BMP")


class ImageRejectedError(Exception):
    """The upload cannot be detected on; `code` and `message` go into the task's outcome."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def decode_image(data: bytes, max_pixels: int) -> Image.Image:
    """The fully decoded image, turned upright by its EXIF orientation (as Ultralytics does)."""
    if not data:
        raise ImageRejectedError(ErrorCode.IMAGE_DECODE_FAILED, "the upload is empty (0 bytes)")
    image = _open(data)
    width, height = image.size
    if width * height > max_pixels:
        raise ImageRejectedError(
            ErrorCode.IMAGE_TOO_LARGE,
            f"the image is {width}x{height} = {width * height} pixels, over the limit of {max_pixels}",
        )
    try:
        image.load()  # decodes every pixel now, so truncated or corrupt data fails here
    except Exception as error:
        raise ImageRejectedError(
            ErrorCode.IMAGE_DECODE_FAILED,
            f"the {image.format} image ({len(data)} bytes) could not be decoded: {error}",
        ) from None
    return ImageOps.exif_transpose(image)


def _open(data: bytes) -> Image.Image:
    try:
        with warnings.catch_warnings():
            # Our own limit decides; Pillow's warning below its hard limit is noise here.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            return Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS)
    except Image.DecompressionBombError as error:
        # Pillow's own hard limit (2 x Image.MAX_IMAGE_PIXELS) fired before ours could.
        raise ImageRejectedError(ErrorCode.IMAGE_TOO_LARGE, f"the image is too large: {error}") from None
    except Exception as error:
        claimed = _format_by_magic(data)
        if claimed is None:
            message = (
                f"the upload ({len(data)} bytes, starting {data[:8].hex()}) is not a "
                f"{', '.join(ACCEPTED_FORMATS[:-1])} or {ACCEPTED_FORMATS[-1]} image"
            )
        else:
            message = f"the {claimed} image ({len(data)} bytes) is truncated or corrupt: {error}"
        raise ImageRejectedError(ErrorCode.IMAGE_DECODE_FAILED, message) from None


def _format_by_magic(data: bytes) -> str | None:
    if data.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    if data.startswith(b"BM"):
        return "BMP"
    return None
