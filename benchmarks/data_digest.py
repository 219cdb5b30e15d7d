"""What the data digest (``hpsweep.data.digests.data_digest``) costs a sweep: once per data set, on many files.

    python benchmarks/data_digest.py --files 100000

Writes ``--files`` small PNG-named files (100 classes) under a temporary image folder and a competition layout
(``train.csv`` naming each), then times the digest of each, by stat (the default) and by content, best of
``--repeat``; and the pre-flight's own index of the same folder, for scale.
"""

import argparse
import tempfile
import time
from pathlib import Path

from hpsweep.data.digests import data_digest
from hpsweep.data.image_files import index_image_folder


def best_of(repeat: int, work) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--size", type=int, default=2048, help="bytes per file")
    parser.add_argument("--repeat", type=int, default=3)
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as top:
        root = Path(top) / "train"
        payload = b"\x89PNG" + b"\0" * (arguments.size - 4)
        rows = ["ID,target"]
        for number in range(arguments.files):
            folder = root / f"class{number % 100:03d}"
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"{number}.png").write_bytes(payload)
            rows.append(f"class{number % 100:03d}/{number}.png,{number % 100}")
        (Path(top) / "train.csv").write_text("\n".join(rows) + "\n")
        folder = {"_target_": "hpsweep.train.data.image_folder", "root": str(root), "test_dir": None}
        layout = {"_target_": "hpsweep.train.data.csv", "root": top, "train_csv": "train.csv", "images_dir": "train",
                  "id_column": "ID", "target_column": "target", "meta_csv": None, "test_dir": None,
                  "sample_submission": None}
        index = best_of(arguments.repeat, lambda: index_image_folder(str(root), None))
        print(f"{arguments.files} files of {arguments.size} bytes; the pre-flight's index of the folder: {index:.2f} s")
        for name, data in (("image_folder", folder), ("csv", layout)):
            for by in ("stat", "content"):
                seconds = best_of(arguments.repeat, lambda data=data, by=by: data_digest({**data, "fingerprint": by}))
                print(f"{name:12} by {by:7}: {seconds:.2f} s ({seconds / arguments.files * 1e6:.1f} us a file, "
                      f"{seconds / index:.1f}x the index)")


if __name__ == "__main__":
    main()
