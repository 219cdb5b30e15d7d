"""``sweep.json``: what a sweep is (its app, fixed overrides, metric, strategy) and every training it holds.

Written by the sweeper before it launches anything and after each stage; read by each job (the rows it
answers, its replicate), by ``hpsweep status``, by the reports and by a re-run of the sweep (the plan it
can reuse, the fingerprints of its directories). Only JSON here: no torch, no Hydra.
"""

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path

from hpsweep.core.records import read_json, write_json_atomic
from hpsweep.core.trainings import Row, Training, bare_key, replicate_dict

MANIFEST_FILE = "sweep.json"
VERSION = 2


def training_entry(training: Training, directory: Path, sweep_dir: Path, job_fingerprint: str) -> dict:
    """One training as the manifest lists it."""
    return {
        "directory": str(directory.relative_to(sweep_dir)),
        "fingerprint": job_fingerprint,
        "label": training.label,
        "model": training.model,
        "category": training.category,
        "option": training.option,
        "is_base": training.is_base,
        "stage": training.stage,
        "setting": list(training.setting),
        "replicate": replicate_dict(training.replicate),
        "rows": [row.as_dict() for row in training.rows],
        "overrides": list(training.overrides),
        "params": dict(training.params),
        "control": training.control,
    }


def write_manifest(sweep_dir: Path, header: dict, entries: list[dict]) -> None:
    """The whole manifest, replacing the previous one; entries of earlier stages are passed in again."""
    write_json_atomic(sweep_dir / MANIFEST_FILE, {"version": VERSION, **header, "trainings": entries})


def read_manifest(sweep_dir: Path) -> dict | None:
    """The sweep's manifest, a turn-1 one (a ``jobs`` list) made to look like this version's; None if absent."""
    manifest = read_json(Path(sweep_dir) / MANIFEST_FILE, _manifest_shape)
    if manifest is None:
        return None
    if "trainings" not in manifest:  # written before replicates and shared trainings existed
        manifest["trainings"] = [{
            "directory": job["directory"], "model": job.get("model"), "category": job.get("category"),
            "option": job.get("option"), "label": job.get("label"), "is_base": False, "stage": 0, "setting": [],
            "replicate": {}, "rows": [{"category": job.get("category"), "option": job.get("option"), "stage": 0}],
        } for job in manifest.get("jobs", [])]
    return manifest


def _manifest_shape(data: object) -> str | None:
    """What makes a manifest unusable: no list of trainings (or turn-1 jobs), each with its directory."""
    if not isinstance(data, dict):
        return "valid JSON, but not an object"
    listed = data.get("trainings", data.get("jobs"))
    if not isinstance(listed, list):
        return "valid JSON without a list of trainings"
    fields = ("directory", "model", "category", "option", "is_base", "stage", "setting", "replicate", "rows",
              "overrides") if "trainings" in data else ("directory",)
    if not all(isinstance(entry, dict) and all(key in entry for key in fields) for entry in listed):
        return "a training without its directory, rows or overrides"
    return None


def entry_in(manifest: dict, sweep_dir: Path, directory: Path) -> dict | None:
    """The manifest's entry of the training in ``directory``, if the sweep planned it."""
    try:
        relative = str(Path(directory).resolve().relative_to(Path(sweep_dir).resolve()))
    except ValueError:  # a run outside the sweep dir
        return None
    return next((entry for entry in manifest["trainings"] if entry["directory"] == relative), None)


def recorded_fingerprints(manifest: dict | None) -> dict[str, str]:
    """Fingerprint -> directory of every training a previous run of the sweep planned."""
    return {entry["fingerprint"]: entry["directory"] for entry in (manifest or {}).get("trainings", [])
            if entry.get("fingerprint")}


def training_from_entry(entry: dict) -> Training:
    """The training a manifest entry describes, as the planner made it."""
    rows = tuple(Row(entry["model"], row["category"], row["option"], tuple(entry["setting"]), row["stage"],
                     row.get("trial")) for row in entry["rows"])
    replicate = tuple(item for item in entry["overrides"] if bare_key(item) in entry["replicate"])
    return Training(tuple(entry["overrides"]), rows, replicate, entry["is_base"],
                    swept=any(row.category for row in rows), params=tuple(entry.get("params", {}).items()),
                    control=entry.get("control") is True)


def plan_key(arguments: list[str], settings: dict, config_dirs: Iterable[str]) -> str:
    """A digest of what decides a sweep's plan: its command line, the sweeper's settings and every file of the
    app's config dirs. The same key means the same plan, so a re-run may reuse the manifest's."""
    digest = hashlib.sha256(json.dumps([arguments, settings], sort_keys=True, default=str).encode())
    for config_dir in config_dirs:
        for path in sorted(Path(config_dir).rglob("*")):
            if path.is_file():
                digest.update(str(path.relative_to(config_dir)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]
