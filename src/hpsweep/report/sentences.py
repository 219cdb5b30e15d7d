"""Each category's verdict as one plain sentence: the answer first, every number
with its meaning (a difference in the deciding metric's units, the replicates it rests on, a p beside the level it
was held to), no nested parentheses. The tests behind them (methods, degrees of freedom, corrections) are the
details ``hpsweep summary --explain``, ``--json`` and the page give."""

from hpsweep.core.statuses import StopKind
from hpsweep.decide.answers import CategoryAnswer, Group, RowResult, replicate_kind
from hpsweep.decide.race_record import phrase
from hpsweep.decide.statistics import Test, signed


def verdict_sentence(group: Group, answer: CategoryAnswer) -> str:
    """``optimizer: keep AdamW (base); no option beat it: ...`` or ``loss_function: Focal, +0.0210 val_f1 over
    CrossEntropy (3 seeds each, p=0.004 < 0.05)``."""
    verdict, metric, level = answer.verdict, group.sweep.metric, group.sweep.fdr
    base = next((row for row in answer.rows if row.is_base), None)
    unit = replicate_kind(answer.rows)
    category = answer.category
    if verdict.winner is None:
        return f"{category}: no answer; {verdict.reason}"
    if not verdict.kept_base:
        test = verdict.against_base[verdict.winner]
        winner = _row(answer, verdict.winner)
        early = ", won early" if winner is not None and winner.stopped == StopKind.EFFICACY else ""
        over = base.option if base is not None else "the base"
        return f"{category}: {verdict.winner}, {signed(test.difference)} {metric} over {over} " \
               f"({_counts(winner, base, unit)}, {_p(test, level)}{early})"
    kept = f"{category}: keep {verdict.winner} (base)"
    rival = _closest(answer, verdict, group.sweep.higher_is_better)
    if rival is None:
        return f"{kept}; it was the only option that completed"
    test = verdict.against_base.get(rival.option)
    difference = test.difference if test is not None else None
    counts = _counts(rival, base, unit)
    if verdict.untested:
        return f"{kept}; {rival.option} led by {signed(difference)} {metric} on one run each, which seed luck alone " \
               "can do"
    if difference is not None and difference != 0 and (difference > 0) == group.sweep.higher_is_better:
        if rival.eliminated:  # its gain rests on the replicates it had when racing stopped it
            return f"{kept}; {rival.option} led by {signed(difference)} {metric} on {counts}, within seed noise: " \
                   f"racing stopped it, {phrase(rival.eliminated, rival.option)}"
        return f"{kept}; {rival.option} led by {signed(difference)} {metric}, within seed noise ({counts}, " \
               f"{_p(test, level, against=True)}){_visible(test)}"
    if not difference:  # the same value: the same training answers both (a shared trajectory), or a tie
        return f"{kept}; no option beat it, {rival.option} tied it ({counts})"
    return f"{kept}; no option beat it, the closest: {rival.option} at {signed(difference)} {metric} ({counts})" \
        + _visible(test)


def _row(answer: CategoryAnswer, option: str) -> RowResult | None:
    return next((row for row in answer.rows if row.option == option), None)


def _closest(answer: CategoryAnswer, verdict, higher_is_better: bool) -> RowResult | None:
    """The option other than the base with the best difference to it (the verdict's top where that is not the base)."""
    if verdict.top is not None and verdict.top != verdict.winner:
        return _row(answer, verdict.top)
    tested = [(test.difference, option) for option, test in verdict.against_base.items()
              if test.difference is not None and option != verdict.winner]
    if not tested:
        return None
    sign = 1 if higher_is_better else -1
    return _row(answer, max(tested, key=lambda item: sign * item[0])[1])


def _counts(row: RowResult | None, base: RowResult | None, unit: str) -> str:
    """``3 seeds each`` or ``1 seed vs the base's 3``."""
    mine = len(row.trainings) if row is not None else 0
    theirs = len(base.trainings) if base is not None else 0
    if mine == theirs:
        return f"{mine} {_unit(unit, mine)} each"
    return f"{mine} {_unit(unit, mine)} vs the base's {theirs}"


def _unit(unit: str, count: int) -> str:
    return unit if count != 1 else unit[:-1]


def _p(test: Test | None, level: float, against: bool = False) -> str:
    """The corrected p beside the level it is held to: ``p=0.004 < 0.05``."""
    p_value = None if test is None else next((p for p in (test.p_adjusted, test.p_comparison, test.p_value)
                                              if p is not None), None)
    if p_value is None:
        return "not tested"
    if p_value < 0.001:
        return f"p<0.001, under {level:g}"
    return f"p={p_value:.2g} {'≥' if against or p_value >= level else '<'} {level:g}"


def _visible(test: Test | None) -> str:
    """The smallest gain these replicates find 4 times in 5."""
    if test is None or not test.detectable:  # none: no seed luck was seen, nothing to size a gain by
        return ""
    return f"; a gain of {signed(test.detectable).lstrip('+')} would show 4 times in 5"
