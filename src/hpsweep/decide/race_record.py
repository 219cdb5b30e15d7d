"""``race.json``: the rows racing stopped (eliminated, futile or equivalent), as ``hpsweep.sweep.racing`` writes
it and the reports and the status read it. Below both racing and the reports, so that neither imports the other
to read it."""

from enum import StrEnum
from pathlib import Path

from hpsweep.core.records import read_json
from hpsweep.core.statuses import RowStatus, StopKind
from hpsweep.core.trainings import BASE

RACE_FILE = "race.json"


def comparison_key(model: str | None, setting, stage: int, category: str) -> tuple:
    return (model, tuple(setting), stage, category)


def read_race(sweep_dir: Path) -> dict[tuple, dict[str, dict]]:
    """The recorded eliminations: comparison key -> option -> why and after how many replicates."""
    data = read_json(Path(sweep_dir) / RACE_FILE, _race_shape) or {}
    return {comparison_key(item["model"], item["setting"], item["stage"], item["category"]): item["eliminated"]
            for item in data.get("comparisons", [])}


UNDECIDABLE = (StopKind.FUTILE, StopKind.EQUIVALENT)  # stopped because more replicates would not decide the row
# those, or stopped as decided (efficacy: the leader won, the base lost); else eliminated (clearly worse)
STOPS = (*UNDECIDABLE, StopKind.EFFICACY)


class Phrase(StrEnum):
    """Which rule stopped a row (``race.json``'s ``rule``), each said in one short phrase (``phrase``)."""

    PRUNED = "pruned"  # a replicate was pruned
    WORSE = "worse"  # worse than the leader: eliminated
    EQUIVALENT = "equivalent"  # within +-min_effect of the leader
    WITHIN_NOISE = "within_noise"  # futile: more replicates would not tell it from the leader
    WON = "won"  # the leader, better than the base at an early look
    BEATEN = "beaten"  # the base, beaten at an early look
    BASE_KEPT = "base_kept"  # more replicates would not show the leader better than the base
    ALONE = "alone"  # the leader, every other row decided


def phrase(why: dict, option: str) -> str:
    """Why racing trained no more replicates of the row ``option``, in a few words from one list: ``worse than
    SGD``, ``within noise of AdamW``, ``cannot beat the base``, ``won early`` (a record written before ``rule`` was
    recorded is read from its stop)."""
    leader = why.get("leader") or "the leader"
    rule = why.get("rule")
    if rule is None:  # an older record: its stop, and the words its reason began with
        kind, reason = stop_kind(why), str(why.get("reason", ""))
        rule = Phrase.PRUNED if why.get("test") == "pruned" else Phrase.WORSE if kind == StopKind.ELIMINATED else \
            (Phrase.WON if leader == option else Phrase.BEATEN) if kind == StopKind.EFFICACY else \
            Phrase.EQUIVALENT if kind == StopKind.EQUIVALENT else Phrase.BASE_KEPT if \
            reason.startswith("the base is kept") else Phrase.ALONE if leader == option else Phrase.WITHIN_NOISE
    return {Phrase.PRUNED: "a replicate was pruned", Phrase.WORSE: f"worse than {leader}",
            Phrase.EQUIVALENT: f"equivalent to {leader}", Phrase.WITHIN_NOISE: f"within noise of {leader}",
            Phrase.WON: "won early", Phrase.BEATEN: f"beaten early by {leader}",
            Phrase.BASE_KEPT: "cannot beat the base",  # the leader cannot, nor can a row behind it
            Phrase.ALONE: "nothing left to decide"}.get(rule, str(why.get("reason", "")))


def stop_kind(why: dict) -> str:
    """How racing stopped a row: ``eliminated``, ``futile``, ``equivalent`` or ``efficacy``."""
    return StopKind(why["stop"]) if why.get("stop") in STOPS else StopKind.ELIMINATED


def won(why: dict | None, option: str) -> str | None:
    """Why the row ``option`` won its comparison before its last replicate (an efficacy stop); None: it did not."""
    return why["reason"] if why and stop_kind(why) == StopKind.EFFICACY and why.get("leader") == option else None


def decisive(whys: list[dict]) -> dict:
    """Of the stops of every row a training answers, the one that says why it is never trained: an elimination
    (the row is out, whatever else stopped it), else the first."""
    return next((why for why in whys if stop_kind(why) == StopKind.ELIMINATED), whys[0])


def untrained_status(why: dict) -> str:
    """The status of a training racing never trains: ``eliminated``, or ``stopped`` (decided without it)."""
    return RowStatus.ELIMINATED if stop_kind(why) == StopKind.ELIMINATED else RowStatus.STOPPED


def elimination(race: dict[tuple, dict[str, dict]], entry: dict) -> dict | None:
    """Why a manifest entry's training is never trained, where racing stopped every row it answers (the base:
    where every comparison of its model was decided, each recorded, the base's row in it included)."""
    if entry.get("is_base"):
        stage = next((row["stage"] for row in entry["rows"]), 0)
        own = {row["category"]: row["option"] for row in entry["rows"] if row["category"]}
        found = [options.get(own.get(key[3], BASE)) for key, options in race.items()
                 if key[:3] == (entry["model"], tuple(entry["setting"]), stage)]
    else:
        found = [race.get(comparison_key(entry["model"], entry["setting"], row["stage"], row["category"]), {})
                 .get(row["option"]) for row in entry["rows"] if row["category"]]
    return decisive(found) if found and all(found) else None


def _race_shape(data: object) -> str | None:
    comparisons = data.get("comparisons") if isinstance(data, dict) else None
    if not isinstance(comparisons, list):
        return "valid JSON without a list of comparisons"
    wanted = {"setting": list, "stage": int, "category": str, "eliminated": dict}
    if not all(isinstance(item, dict) and all(isinstance(item.get(key), kind) for key, kind in wanted.items())
               and all(isinstance(why, dict) and isinstance(why.get("after"), int)
                       and isinstance(why.get("reason"), str) for why in item["eliminated"].values())
               for item in comparisons):
        return "a comparison without its category, setting, stage or stops (each with its replicates and reason)"
    return None
