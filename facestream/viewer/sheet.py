"""Contact sheets: a grid of labelled images in one PNG (needs Pillow, the `viewer` extra)."""
from __future__ import annotations

from pathlib import Path

import numpy as np


def caption_font(size: int):
    """DejaVu Sans (fonts-dejavu-core, installed by `make deps`) at `size` px: it has the accents
    of every language the corpus speaks; Pillow's own default font (the fallback) lacks many
    (a Czech í drew as a box)."""
    from PIL import ImageFont
    try:
        return ImageFont.truetype("DejaVuSans.ttf", size)
    except OSError:
        return ImageFont.load_default(size=size)


def contact_sheet(images: list[np.ndarray], labels: list[str], columns: int = 4,
                  title: str | None = None, path: str | Path | None = None) -> np.ndarray:
    """Tile H x W x 3 uint8 images (all the same size) with a caption under each.

    Returns the sheet as an image; writes a PNG when `path` is given.
    """
    try:
        from PIL import Image, ImageDraw
    except ImportError as e:
        raise ImportError("contact sheets need Pillow: pip install 'facestream[viewer]'") from e
    if not images or len(images) != len(labels):
        raise ValueError("give one label per image, and at least one image")
    h, w = images[0].shape[:2]
    rows = -(-len(images) // columns)
    cap = max(18, h // 14)
    top = cap + 8 if title else 0
    sheet = Image.new("RGB", (columns * w, top + rows * (h + cap + 6)), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    font = caption_font(int(cap * 0.8))
    if title:
        draw.text((8, 4), title, fill=(20, 20, 20), font=font)
    for i, (img, label) in enumerate(zip(images, labels)):
        r, c = divmod(i, columns)
        y = top + r * (h + cap + 6)
        sheet.paste(Image.fromarray(img), (c * w, y))
        tw = draw.textlength(label, font=font)
        draw.text((c * w + (w - tw) / 2, y + h + 2), label, fill=(30, 30, 30), font=font)
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        sheet.save(path)
    return np.asarray(sheet)
