"""What made a number: the code, the data and the packages behind a training (``provenance`` in its records).

- ``code``: the git commit of the repository that holds the app's script, whether its tree was dirty, and a digest
  of the uncommitted changes to code (tracked and untracked source, config and shell files: ``CODE_SUFFIXES``; an
  edited README or docs page is not code), so two dirty trees are told apart. Nulls outside git.
- ``data``: a digest of what the training reads (``data_digest``): the CSV files' contents and every image's name,
  size and mtime, or their bytes with ``data.fingerprint=content``. It is part of a training's fingerprint, so new
  labels or images make new trainings. A bundled set (digits) is its name: its parameters are in the config.
- ``packages``: the versions that decide what the code computes; ``host`` and ``gpu`` say where it ran.

No torch here (the driver and the read-only commands import this): CUDA and the GPU's name are read only where
torch is imported already (a training).
"""

import hashlib
import json
import logging
import os
import platform
import socket
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

log = logging.getLogger(__name__)

CODE_SUFFIXES = (".py", ".pyx", ".yaml", ".yml", ".toml", ".cfg", ".ini", ".sh")  # untracked files that are code
PACKAGES = ("hpsweep", "torch", "torchvision", "timm", "hydra-core", "omegaconf", "wandb")
DATA_FINGERPRINTS = ("stat", "content")  # data.fingerprint: what proves a data set unchanged
FILE_LAYOUTS = {"hpsweep.train.data.image_folder": "image_folder", "hpsweep.train.data.csv": "csv",
                "hpsweep.train.data.auto": "auto"}
BUNDLED = {"hpsweep.train.data.digits": "sklearn.datasets.load_digits"}
# the data config's keys that say which files a training reads (and how to digest them)
READ_KEYS = ("_target_", "root", "train_csv", "images_dir", "id_column", "target_column", "meta_csv", "test_dir",
             "sample_submission", "fingerprint", "val_dir", "layout", "image_column", "label_column", "split_column",
             "csv_file")


# --- code ---------------------------------------------------------------------------------------------------

def code_version(script: str | Path | None) -> dict:
    """The git state of the repository holding ``script`` (``commit``, ``dirty``, ``diff``, ``repo``): all null
    outside a repository or without git (``code_unknown`` says why)."""
    folder = str(Path(script).resolve().parent if script else Path.cwd())
    none = {"commit": None, "dirty": None, "diff": None, "repo": None}
    try:
        top = _git(folder, "rev-parse", "--show-toplevel")
    except (OSError, subprocess.SubprocessError):  # no git binary
        return none
    if top is None:  # not a repository
        return none
    repo = top.decode().strip()
    commit = _git(repo, "rev-parse", "--verify", "-q", "HEAD")
    # only code counts: an edited README or docs page changes nothing a training computes
    code = ["--", *(f"*{suffix}" for suffix in CODE_SUFFIXES)]
    tracked = (_git(repo, "diff", "HEAD", "--binary", *code) if commit
               else _git(repo, "diff", "--cached", "--binary", *code)) or b""
    untracked = sorted(name for name in (_git(repo, "ls-files", "--others", "--exclude-standard", "-z") or b"")
                       .decode(errors="replace").split("\0") if _is_code(name))
    diff = None
    if tracked.strip() or untracked:
        digest = hashlib.sha256(tracked)
        for name in untracked:
            digest.update(b"\0" + name.encode() + b"\0")
            try:
                digest.update((Path(repo) / name).read_bytes())
            except OSError:
                pass  # gone since git listed it
        diff = digest.hexdigest()[:16]
    return {"commit": commit.decode().strip() if commit else None, "dirty": diff is not None, "diff": diff,
            "repo": repo}


def _is_code(name: str) -> bool:
    """An untracked file that changes what the code computes: source and config, not what runs leave behind (a
    sweep dir in the tree that git does not ignore: results, Hydra's .hydra/, logs)."""
    parts = Path(name).parts
    return bool(parts) and Path(name).suffix in CODE_SUFFIXES and not any(part.startswith(".") for part in parts)


def _git(folder: str, *arguments: str) -> bytes | None:
    """A git command's output, or None where it fails (not a repository, no commit yet)."""
    finished = subprocess.run(["git", "-C", folder, *arguments], capture_output=True, timeout=60)
    return finished.stdout if finished.returncode == 0 else None


def code_unknown(code: dict, script: str | Path | None) -> str | None:
    """Why a code version has no commit, in words (for the one line a sweep says), or None where it has one."""
    if code.get("commit"):
        return None
    if code.get("repo"):
        return f"{code['repo']} has no commit yet"
    try:
        subprocess.run(["git", "--version"], capture_output=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return "no git binary on this machine"
    return f"{Path(script).resolve().parent if script else Path.cwd()} is not in a git repository"


def code_identity(provenance: dict | None) -> tuple | None:
    """What tells two code versions apart (commit, dirty, diff), or None where a record has no provenance."""
    code = (provenance or {}).get("code") if isinstance(provenance, dict) else None
    return tuple(code.get(key) for key in ("commit", "dirty", "diff")) if isinstance(code, dict) else None


def same_code(recorded: dict | None, current: dict) -> bool | None:
    """Whether a record's code and packages are ``current``'s; None where the record has none."""
    if code_identity(recorded) is None:
        return None
    return code_identity(recorded) == code_identity(current) and \
        compared_packages(recorded.get("packages")) == compared_packages(current.get("packages"))


def code_label(code: dict | None) -> str | None:
    """A code version in a few characters: ``abc1234``, ``abc1234+dirty-1f2e3d4`` (the diff's digest tells two
    dirty trees apart); None where nothing was recorded or there is no commit."""
    if not isinstance(code, dict) or not code.get("commit"):
        return None
    return code["commit"][:7] + (f"+dirty-{str(code.get('diff') or '')[:7]}" if code.get("dirty") else "")


# --- packages and machine -----------------------------------------------------------------------------------

def package_versions() -> dict:
    """The versions of what computes a training (``PACKAGES``, Python), and CUDA/cuDNN where torch is loaded."""
    versions = {name: _version(name) for name in PACKAGES}
    versions["python"] = platform.python_version()
    torch = sys.modules.get("torch")
    if torch is not None:
        versions["cuda"] = torch.version.cuda
        versions["cudnn"] = torch.backends.cudnn.version() if torch.cuda.is_available() else None
    return versions


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def compared_packages(versions: dict | None) -> dict:
    """The part of ``package_versions`` two trainings must share to count as the same code."""
    return {key: (versions or {}).get(key) for key in (*PACKAGES, "python")}


def machine() -> dict:
    """The host, and the GPU's name where torch is loaded and sees one."""
    torch = sys.modules.get("torch")
    gpu = torch.cuda.get_device_name(0) if torch is not None and torch.cuda.is_available() else None
    return {"host": socket.gethostname(), "gpu": gpu}


# --- data ---------------------------------------------------------------------------------------------------

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
    from hpsweep.train.layouts import index_of

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
        from hpsweep.sweep.preflight import is_hpsweep_config

        return (self.of(cfg.data) or {}).get("digest") if is_hpsweep_config(cfg) else None

    def fingerprint(self, cfg: DictConfig) -> str:
        """A training's fingerprint: its config's and its data's (``hpsweep.sweep.plan.fingerprint``)."""
        from hpsweep.sweep.plan import fingerprint

        return fingerprint(cfg, self.digest_of(cfg))

    @property
    def sources(self) -> list[dict]:
        """Each data set digested, with the keys it was read by: what a re-run checks again before it says
        that nothing changed."""
        return [{"keys": json.loads(key), "data": data} for key, data in self.known.items()
                if data is not None and data.get("digest")]


def collect(script: str | Path | None, data: dict | None) -> dict:
    """A training's ``provenance``: its code, data, packages and machine."""
    return {"code": code_version(script), "data": data, "packages": package_versions(), **machine()}
