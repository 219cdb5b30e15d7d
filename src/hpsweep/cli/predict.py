"""``hpsweep predict``: a finished run's best weights predict a folder of images (the only command that imports
torch, as this module loads)."""

from pathlib import Path

from hpsweep.core.display import say_error
from hpsweep.core.errors import ConfigError
from hpsweep.train.predictions import predict_folder


def run(args, parser) -> int:
    return predict(args.run_dir, args.images_dir, args.out, args.tta)


def predict(run_dir: Path, images_dir: Path, out: Path, tta: list[str] | None) -> int:
    """A finished run's best weights predict a folder of images."""
    try:
        written = predict_folder(run_dir, images_dir, out, tta)
    except ConfigError as error:
        say_error(str(error))
        return 1
    print(f"wrote {written}")
    return 0
