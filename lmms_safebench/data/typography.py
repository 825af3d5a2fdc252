"""Typography images: a phrase drawn black on white, as MM-SafetyBench builds its TYPO images.

Published specification: Arial at 90 px, canvas 1024 px wide, greedy word wrap (a word moves to the
next line when the line would exceed the width; continuation lines keep their leading space),
height 90 x (lines + 1), text drawn at (0, 45), JPEG. Arial is proprietary; the bundled Liberation
Sans has the same metrics (SIL OFL 1.1). Any TrueType font can be passed instead.
"""

from __future__ import annotations

import io
from functools import lru_cache
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

DEFAULT_FONT = Path(__file__).resolve().parent.parent / "assets" / "fonts" / "LiberationSans-Regular.ttf"
FONT_SIZE = 90
WIDTH = 1024


@lru_cache(maxsize=8)
def load_font(path: str | None = None, size: int = FONT_SIZE) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(path or DEFAULT_FONT), size)


def wrap(text: str, font: ImageFont.FreeTypeFont, width: int = WIDTH) -> list[str]:
    """Greedy wrap on single spaces. Every line after the first starts with the space it broke at."""
    words = text.split(" ")
    lines = [words[0]]
    length = font.getlength(words[0])
    for word in words[1:]:
        piece = " " + word
        piece_length = font.getlength(piece)
        if length + piece_length < width:
            lines[-1] += piece
            length += piece_length
        else:
            lines.append(piece)
            length = piece_length
    return lines


def render(text: str, font_path: str | None = None, font_size: int = FONT_SIZE, width: int = WIDTH):
    """Return ``(image, line_count)`` for ``text``."""
    font = load_font(str(font_path) if font_path else None, font_size)
    lines = wrap(text, font, width)
    image = Image.new("RGB", (width, font_size * (len(lines) + 1)), "white")
    ImageDraw.Draw(image).text((0, font_size // 2), "\n".join(lines), fill="black", font=font)
    return image, len(lines)


def to_jpeg(image: Image.Image, quality: int = 95) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def stack_vertically(top: Image.Image, bottom: Image.Image) -> Image.Image:
    """SD_TYPO: the SD image with the typography strip pasted directly below it, no resizing."""
    canvas = Image.new("RGB", (max(top.width, bottom.width), top.height + bottom.height), "white")
    canvas.paste(top.convert("RGB"), (0, 0))
    canvas.paste(bottom.convert("RGB"), (0, top.height))
    return canvas
