#!/usr/bin/env python3
"""Draws the Coliseum app icon and writes it in several sizes.

The icon is a stylised amphitheatre (three tiers of arches) in cream on a
terracotta rounded square. It is drawn once at 1024 px and downscaled with
Lanczos filtering, so every size stays crisp.

Usage (from the repository root):
    python3 -m pip install pillow
    python3 resources/icons/make_icons.py
Writes resources/icons/coliseum-{16,32,48,64,128,256,512}.png.
"""

from pathlib import Path

from PIL import Image, ImageDraw

SIZES = (16, 32, 48, 64, 128, 256, 512)
S = 1024  # master canvas size
OUT = Path(__file__).resolve().parent

TOP = (205, 98, 45)      # terracotta, top of the gradient
BOTTOM = (140, 52, 22)   # darker, bottom of the gradient
CREAM = (255, 243, 222)
SHADOW = (110, 40, 16)


def gradient_square() -> Image.Image:
    """A vertical gradient clipped to a rounded square (with transparency)."""
    grad = Image.new("RGB", (S, S))
    draw = ImageDraw.Draw(grad)
    for y in range(S):
        t = y / (S - 1)
        color = tuple(round(a + (b - a) * t) for a, b in zip(TOP, BOTTOM))
        draw.line([(0, y), (S, y)], fill=color)
    mask = Image.new("L", (S, S), 0)
    ImageDraw.Draw(mask).rounded_rectangle(
        [40, 40, S - 40, S - 40], radius=210, fill=255
    )
    icon = Image.new("RGBA", (S, S), (0, 0, 0, 0))
    icon.paste(grad, (0, 0), mask)
    return icon


def arches(draw: ImageDraw.ImageDraw, left, right, top, bottom, count, color):
    """`count` round-topped openings evenly spread in the band."""
    width = right - left
    slot = width / count
    opening = slot * 0.56
    for i in range(count):
        cx = left + slot * (i + 0.5)
        x0, x1 = cx - opening / 2, cx + opening / 2
        r = opening / 2
        draw.rectangle([x0, top + r, x1, bottom], fill=color)
        draw.ellipse([x0, top, x1, top + 2 * r], fill=color)


def building(icon: Image.Image) -> None:
    draw = ImageDraw.Draw(icon)
    left, right = 170, S - 170
    # Ground shadow.
    draw.rounded_rectangle([left - 10, 800, right + 10, 836], radius=16, fill=SHADOW)
    # Tiers: attic (top), two arcaded tiers, ground arcade; each a bit wider.
    tiers = [
        (left + 60, right - 60, 238, 330),   # attic
        (left + 30, right - 30, 352, 516),   # upper arcade
        (left, right, 538, 800),             # ground arcade
    ]
    for x0, x1, y0, y1 in tiers:
        draw.rounded_rectangle([x0, y0, x1, y1], radius=18, fill=CREAM)
    # Cornices: thin dark lines between tiers.
    for y in (341, 527):
        draw.rectangle([left + 20, y - 4, right - 20, y + 4], fill=SHADOW)
    # Attic windows: small rectangles.
    x0, x1, y0, y1 = tiers[0]
    n = 6
    slot = (x1 - x0) / n
    for i in range(n):
        cx = x0 + slot * (i + 0.5)
        draw.rectangle([cx - 16, y0 + 30, cx + 16, y1 - 30], fill=BOTTOM)
    # Arcades.
    arches(draw, tiers[1][0] + 16, tiers[1][1] - 16, 380, 516, 6, BOTTOM)
    arches(draw, tiers[2][0] + 16, tiers[2][1] - 16, 575, 800, 5, BOTTOM)


def main() -> None:
    icon = gradient_square()
    building(icon)
    for size in SIZES:
        path = OUT / f"coliseum-{size}.png"
        icon.resize((size, size), Image.LANCZOS).save(path, optimize=True)
        print(f"wrote {path.relative_to(OUT.parent.parent)}")


if __name__ == "__main__":
    main()
