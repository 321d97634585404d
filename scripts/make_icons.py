"""Draw the app icons (run once after changing the design; the PNGs are committed).

Needs Pillow and a CJK font (Debian: fonts-noto-cjk).
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

OUT = Path(__file__).resolve().parent.parent / "pwa" / "icons"
FONT = "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc"
RED, WHITE = (183, 28, 28), (255, 255, 255)


def draw(size: int, maskable: bool) -> Image.Image:
    image = Image.new("RGB", (size, size), RED if maskable else WHITE)
    canvas = ImageDraw.Draw(image)
    if not maskable:
        canvas.rounded_rectangle((0, 0, size - 1, size - 1), radius=size // 6, fill=RED)
    # Maskable icons keep their content inside the central 80 % safe zone.
    font = ImageFont.truetype(FONT, int(size * (0.46 if maskable else 0.56)))
    canvas.text((size / 2, size / 2), "连", font=font, fill=WHITE, anchor="mm")
    return image


def save(image: Image.Image, path: Path) -> None:
    """Two colours and their anti-aliased edge: a 32-colour palette looks the same and is a
    third of the bytes, which a phone pays for on its first visit."""
    image.quantize(colors=32, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for size in (192, 512):
        save(draw(size, False), OUT / f"icon-{size}.png")
        save(draw(size, True), OUT / f"icon-maskable-{size}.png")


if __name__ == "__main__":
    main()
