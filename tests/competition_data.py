"""A small synthetic data set in the competition's layout, drawn with PIL: 17 classes of shapes."""

import csv
import math
import random
from pathlib import Path

from PIL import Image, ImageDraw

CLASSES = 17


def draw(label: int, rng: random.Random, size: int = 40) -> Image.Image:
    """Class ``label``: a polygon of ``label % 6 + 3`` corners, filled or outlined, in a class colour."""
    image = Image.new("RGB", (size, size), "white")
    canvas = ImageDraw.Draw(image)
    corners, radius = label % 6 + 3, size * rng.uniform(0.28, 0.4)
    centre = (size / 2 + rng.uniform(-3, 3), size / 2 + rng.uniform(-3, 3))
    turn = rng.uniform(0, math.tau)
    points = [(centre[0] + radius * math.cos(turn + math.tau * k / corners),
               centre[1] + radius * math.sin(turn + math.tau * k / corners)) for k in range(corners)]
    colour = ((label * 53) % 200, (label * 97) % 200, (label * 31) % 200)
    if label // 6 == 0:
        canvas.polygon(points, fill=colour)
    elif label // 6 == 1:
        canvas.polygon(points, outline=colour, width=3)
    else:
        canvas.polygon(points, fill=colour)
        canvas.ellipse((centre[0] - 4, centre[1] - 4, centre[0] + 4, centre[1] + 4), fill="white")
    return image


def write_competition(root: Path, per_class: int = 10, test_images: int = 12, seed: int = 0) -> Path:
    """``train.csv`` (ID,target), ``train/``, ``meta.csv`` (target,class_name), ``test/`` and
    ``sample_submission.csv``, as the seed's document-classification competition laid them out."""
    rng = random.Random(seed)
    (root / "train").mkdir(parents=True)
    (root / "test").mkdir()
    rows = []
    for label in range(CLASSES):
        for index in range(per_class):
            name = f"{label:02d}{index:03d}.png"
            draw(label, rng).save(root / "train" / name)
            rows.append((name, label))
    rng.shuffle(rows)
    _write(root / "train.csv", ("ID", "target"), rows)
    _write(root / "meta.csv", ("target", "class_name"), [(label, f"shape_{label}") for label in range(CLASSES)])
    test_rows = []
    for index in range(test_images):
        name = f"test{index:03d}.png"
        draw(rng.randrange(CLASSES), rng).rotate(90 * rng.randrange(4)).save(root / "test" / name)
        test_rows.append((name, 0))
    _write(root / "sample_submission.csv", ("ID", "target"), test_rows)
    return root


def write_image_folder(root: Path, classes: int = 4, per_class: int = 8, seed: int = 0) -> Path:
    """``root/<class>/<image>.png``."""
    rng = random.Random(seed)
    for label in range(classes):
        (root / f"class_{label}").mkdir(parents=True)
        for index in range(per_class):
            draw(label, rng).save(root / f"class_{label}" / f"{index}.png")
    return root


def _write(path: Path, header: tuple[str, str], rows) -> None:
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


GLYPHS = {  # strokes on a 4x4 grid; no glyph is another one turned or mirrored
    "L": [[(0, 0), (0, 4), (3, 4)]],
    "F": [[(0, 4), (0, 0), (3, 0)], [(0, 2), (2, 2)]],
    "P": [[(0, 4), (0, 0), (3, 0), (3, 2), (0, 2)]],
    "T": [[(0, 0), (4, 0)], [(2, 0), (2, 4)]],
    "Y": [[(0, 0), (2, 2), (4, 0)], [(2, 2), (2, 4)]],
    "Z": [[(0, 0), (3, 0), (0, 4), (3, 4)]],
}


def draw_glyph(strokes, rng: random.Random, size: int = 40) -> Image.Image:
    """A glyph upright, shifted, scaled and slanted a little; dark ink on white paper."""
    image = Image.new("RGB", (size, size), "white")
    canvas = ImageDraw.Draw(image)
    scale, slant = size * rng.uniform(0.14, 0.18), rng.uniform(-0.15, 0.15)
    left, top = size / 2 - 2 * scale + rng.uniform(-3, 3), size / 2 - 2 * scale + rng.uniform(-3, 3)
    ink = tuple(rng.randrange(0, 90) for _ in range(3))
    for stroke in strokes:
        canvas.line([(left + scale * (x + slant * (4 - y)), top + scale * y) for x, y in stroke], fill=ink,
                    width=rng.randrange(3, 5))
    return image


def write_turned_competition(root: Path, per_class: int = 40, test_per_class: int = 30,
                             seed: int = 0) -> tuple[Path, dict[str, str]]:
    """A competition whose training images are upright glyphs and whose test images are the same glyphs turned
    by a quarter, a half or three quarters: what a model scores on the test depends on whether it learnt the
    glyphs in every orientation. Returns the data root and the hidden test labels (test id -> class name)."""
    rng = random.Random(seed)
    (root / "train").mkdir(parents=True)
    (root / "test").mkdir()
    rows, hidden = [], {}
    for label, strokes in enumerate(GLYPHS.values()):
        for index in range(per_class):
            name = f"{label}{index:03d}.png"
            draw_glyph(strokes, rng).save(root / "train" / name)
            rows.append((name, label))
    test_rows = []
    for label, (glyph, strokes) in enumerate(GLYPHS.items()):
        for index in range(test_per_class):
            name = f"test{label}{index:03d}.png"
            draw_glyph(strokes, rng).rotate(90 * rng.randrange(1, 4)).save(root / "test" / name)
            test_rows.append((name, 0))
            hidden[name] = f"glyph_{glyph}"
    rng.shuffle(rows)
    rng.shuffle(test_rows)
    _write(root / "train.csv", ("ID", "target"), rows)
    _write(root / "meta.csv", ("target", "class_name"), [(label, f"glyph_{glyph}") for label, glyph in
                                                         enumerate(GLYPHS)])
    _write(root / "sample_submission.csv", ("ID", "target"), test_rows)
    return root, hidden
