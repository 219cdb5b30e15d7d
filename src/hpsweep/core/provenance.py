"""What made a number: the code, the data and the packages behind a training (``provenance`` in its records).

- ``code``: the git commit of the repository that holds the app's script, whether its tree was dirty, and a digest
  of the uncommitted changes to code (tracked and untracked source, config and shell files: ``CODE_SUFFIXES``; an
  edited README or docs page is not code), so two dirty trees are told apart. Nulls outside git.
- ``data``: a digest of what the training reads (``hpsweep.data.digests.data_digest``), handed to ``collect``.
- ``packages``: the versions that decide what the code computes; ``host`` and ``gpu`` say where it ran.

No torch here (the driver and the read-only commands import this): CUDA and the GPU's name are read only where
torch is imported already (a training).
"""

import hashlib
import logging
import platform
import socket
import subprocess
import sys
from importlib import metadata
from pathlib import Path

log = logging.getLogger(__name__)

CODE_SUFFIXES = (".py", ".pyx", ".yaml", ".yml", ".toml", ".cfg", ".ini", ".sh")  # untracked files that are code
PACKAGES = ("hpsweep", "torch", "torchvision", "timm", "hydra-core", "omegaconf", "wandb")

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


def collect(script: str | Path | None, data: dict | None) -> dict:
    """A training's ``provenance``: its code, data, packages and machine."""
    return {"code": code_version(script), "data": data, "packages": package_versions(), **machine()}
