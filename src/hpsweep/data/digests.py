"""What a training reads, digested (``provenance.data`` in its records): the CSV files' contents and every image's
name, size and mtime, or their bytes with ``data.fingerprint=content``. It is part of a training's fingerprint, so
new labels or images make new trainings. A bundled set (digits) is its name: its parameters are in the config.

No torch here (the driver and the read-only commands import this): the files are found by the layouts' index.
"""

import hashlib
import json
import os
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from hpsweep.core.compose import is_hpsweep_config
from hpsweep.core.fingerprints import fingerprint
from hpsweep.data.layouts import index_of

DATA_FINGERPRINTS = ("stat", "content")  # data.fingerprint: what proves a data set unchanged
FILE_LAYOUTS = {"hpsweep.train.data.image_folder": "image_folder", "hpsweep.train.data.csv": "csv",
                "hpsweep.train.data.auto": "auto"}
BUNDLED = {"hpsweep.train.data.digits": "sklearn.datasets.load_digits"}
# the data config's keys that say which files a training reads (and how to digest them)
READ_KEYS = ("_target_", "root", "train_csv", "images_dir", "id_column", "target_column", "meta_csv", "test_dir",
             "sample_submission", "fingerprint", "val_dir", "layout", "image_column", "label_column", "split_column",
             "csv_file")


def read_keys(data_cfg: DictConfig | dict) -> dict:
    """The data config's keys that decide which files are read, as plain data."""
    container = OmegaConf.to_container(data_cfg, resolve=True) if OmegaConf.is_config(data_cfg) else dict(data_cfg)
    return {key: container[key] for key in READ_KEYS if key in container}


def data_digest(data_cfg: DictConfig | dict) -> dict | None:
    """What a training of ``data_cfg`` reads, digested: ``{"layout", "root", "files", "by", "digest"}``; for a bundled
    set ``{"layout", "source", "digest": None}``; None for a data config that is not hpsweep's (another app's)."""
    keys = read_keys(data_cfg)
    target = keys.get("_target_")
    if target in BUNDLED:
        return {"layout": target.rsplit(".", 1)[-1], "source": BUNDLED[target], "digest": None}
    if target not in FILE_LAYOUTS:
        return None
    by = keys.get("fingerprint", "stat")
    if by not in DATA_FINGERPRINTS:  # the pre-flight names it; a digest of the bytes is never wrong meanwhile
        by = "content"
    root = Path(str(keys["root"])).expanduser()
    index = index_of(keys)
    layout = FILE_LAYOUTS[target] if FILE_LAYOUTS[target] != "auto" else f"auto:{index.layout}"
    digest = hashlib.sha256(json.dumps({"layout": layout, "by": by}).encode())
    files = 0
    for table in index.tables:  # labels live here: their bytes, always
        digest.update(b"table\0" + _name(table, root) + b"\0" + _bytes(table))
        files += 1
    # an image's label is its class folder or its CSV row, both digested; the images themselves by stat or bytes;
    # where they are records or tar members, the files that hold them (and their labels)
    stored = index.stores if index.stores is not None else [*index.paths, *index.test_paths]
    for path in stored:
        digest.update(b"image\0" + _name(path, root) + b"\0" + (_bytes(path) if by == "content" else _stat(path)))
        files += 1
    return {"layout": layout, "root": str(root.resolve()), "files": files, "by": by,
            "digest": digest.hexdigest()[:16]}


def _name(path: Path, root: Path) -> bytes:
    """A file's name as the index built it: under ``root`` relative to it (a copied data set digests alike),
    else whole (a test folder beside the root). No resolving: a digest of 100,000 files stays a stat each."""
    text, prefix = str(path), str(root) + os.sep
    return (text[len(prefix):] if text.startswith(prefix) else text).encode()


def _bytes(path: Path) -> bytes:
    try:
        return hashlib.sha256(Path(path).read_bytes()).digest()
    except OSError:
        return b"missing"  # the pre-flight names it


def _stat(path: Path) -> bytes:
    try:
        stat = os.stat(path)
    except OSError:
        return b"missing"
    return f"{stat.st_size}:{stat.st_mtime_ns}".encode()


class DataDigests:
    """Digests of the data sets of a sweep, each computed once (a scan of a large folder costs seconds)."""

    def __init__(self):
        self.known: dict[str, dict | None] = {}

    def of(self, data_cfg: DictConfig | dict) -> dict | None:
        key = json.dumps(read_keys(data_cfg), sort_keys=True, default=str)
        if key not in self.known:
            self.known[key] = data_digest(data_cfg)
        return self.known[key]

    def digest_of(self, cfg: DictConfig) -> str | None:
        """The digest of the files a training of ``cfg`` reads; None for a bundled set or another app's config."""
        return (self.of(cfg.data) or {}).get("digest") if is_hpsweep_config(cfg) else None

    def fingerprint(self, cfg: DictConfig) -> str:
        """A training's fingerprint: its config's and its data's (``hpsweep.core.fingerprints.fingerprint``)."""
        return fingerprint(cfg, self.digest_of(cfg))

    @property
    def sources(self) -> list[dict]:
        """Each data set digested, with the keys it was read by: what a re-run checks again before it says
        that nothing changed."""
        return [{"keys": json.loads(key), "data": data} for key, data in self.known.items()
                if data is not None and data.get("digest")]
