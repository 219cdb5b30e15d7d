"""``race.json``: the eliminations racing recorded (``hpsweep.sweep.racing`` writes it), as the reports and the status
read them. Below both racing and the reports, so that neither imports the other to read it."""

from pathlib import Path

from hpsweep.records import read_json

RACE_FILE = "race.json"


def comparison_key(model: str | None, setting, stage: int, category: str) -> tuple:
    return (model, tuple(setting), stage, category)


def read_race(sweep_dir: Path) -> dict[tuple, dict[str, dict]]:
    """The recorded eliminations: comparison key -> option -> why and after how many replicates."""
    data = read_json(Path(sweep_dir) / RACE_FILE, _race_shape) or {}
    return {comparison_key(item["model"], item["setting"], item["stage"], item["category"]): item["eliminated"]
            for item in data.get("comparisons", [])}


def elimination(race: dict[tuple, dict[str, dict]], entry: dict) -> dict | None:
    """Why a manifest entry's training is never trained, where racing eliminated every row it answers."""
    found = [race.get(comparison_key(entry["model"], entry["setting"], row["stage"], row["category"]), {})
             .get(row["option"]) for row in entry["rows"] if row["category"]]
    return found[0] if found and all(found) and not entry.get("is_base") else None


def _race_shape(data: object) -> str | None:
    comparisons = data.get("comparisons") if isinstance(data, dict) else None
    if not isinstance(comparisons, list):
        return "valid JSON without a list of comparisons"
    wanted = {"setting": list, "stage": int, "category": str, "eliminated": dict}
    if not all(isinstance(item, dict) and all(isinstance(item.get(key), kind) for key, kind in wanted.items())
               and all(isinstance(why, dict) and isinstance(why.get("after"), int)
                       for why in item["eliminated"].values()) for item in comparisons):
        return "a comparison without its category, setting, stage or eliminations"
    return None
