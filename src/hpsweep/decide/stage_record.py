"""``decisions.json``: each greedy stage's decisions with the fingerprints they were made from, as
``hpsweep.sweep.stages`` writes it and the reports read it. Below both, as ``race_record`` is for ``race.json``."""

from pathlib import Path

from hpsweep.core.records import read_json

DECISIONS_FILE = "decisions.json"
DECISION_FIELDS = {"model", "setting", "winner", "kept_base", "reason", "notes", "overrides"}


def read_decisions(sweep_dir: Path) -> list[dict]:
    """The stages ``decisions.json`` records; none where it is absent or unreadable (set aside: the stages are
    decided again from their results)."""
    return (read_json(Path(sweep_dir) / DECISIONS_FILE, _decisions_shape) or {}).get("stages", [])


def _decisions_shape(data: object) -> str | None:
    stages = data.get("stages") if isinstance(data, dict) else None
    if not isinstance(stages, list):
        return "valid JSON without a list of stages"
    wanted = {"stage": int, "category": str, "fingerprints": list, "decisions": list}
    if not all(isinstance(item, dict) and all(isinstance(item.get(key), kind) for key, kind in wanted.items())
               and all(isinstance(made, dict) and DECISION_FIELDS <= made.keys() for made in item["decisions"])
               for item in stages):
        return "a stage without its number, category, fingerprints or decisions"
    return None
