"""Typed errors whose messages say how to fix the input."""


class ConfigError(ValueError):
    """The composed config holds values that cannot run; the message lists every problem found."""

    def __init__(self, problems: list[str], summary: str = "invalid configuration"):
        self.problems = problems
        super().__init__(f"{summary}:\n" + "\n".join(f"  - {p}" for p in problems))


class UnknownModelError(ConfigError):
    """timm has no model of that name."""


class PretrainedWeightsUnavailable(RuntimeError):
    """Pretrained weights were asked for but no local file, cache or reachable hub has them."""


class NonFiniteLossError(FloatingPointError):
    """The training loss became NaN or infinite: the run diverged."""


class SweepFailedError(RuntimeError):
    """Some jobs of a sweep failed; every other job ran, and each outcome is in its result.json."""
