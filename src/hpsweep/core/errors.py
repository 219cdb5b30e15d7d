"""Typed errors whose messages say how to fix the input."""

import difflib


class UserError(Exception):
    """A problem of the input or the setup whose message says how to fix it: shown without a traceback."""


class ConfigError(UserError, ValueError):
    """The composed config holds values that cannot run; the message lists every problem found."""

    def __init__(self, problems: list[str], summary: str = "invalid configuration"):
        self.problems = problems
        super().__init__(f"{summary}:\n" + "\n".join(f"  - {p}" for p in problems))


class UnknownModelError(ConfigError):
    """timm has no model of that name."""


class PretrainedWeightsUnavailable(UserError, RuntimeError):
    """Pretrained weights were asked for but no local file, cache or reachable hub has them."""


class NonFiniteLossError(UserError, FloatingPointError):
    """The training loss became NaN or infinite: the run diverged."""


class SweepFailedError(RuntimeError):
    """Some jobs of a sweep failed; every other job ran, and each outcome is in its result.json."""


class WriteFailed(OSError):
    """A write into a run's directory failed (a full disk, a lost mount): the files written before are intact."""

    def __init__(self, path, error: OSError):
        import errno

        self.path = path
        what = "disk full" if error.errno == errno.ENOSPC else (error.strerror or type(error).__name__)
        super().__init__(error.errno, f"{what} writing {path}")

    def __str__(self) -> str:
        return self.strerror


class ClaimLost(UserError):
    """Another process took over the training this job held (it judged the job gone): the job stops, writing
    nothing more into the training's directory."""


class CheckpointUnusable(RuntimeError):
    """A checkpoint loaded but its states do not fit the training; it was set aside, so a re-run starts clean."""


class CheckpointUnreadable(RuntimeError):
    """A checkpoint the machine could not read (an I/O error, a permission, memory): kept, for a later run."""


def first_line(error: BaseException, limit: int = 200) -> str:
    """The first line of an error's message (torch's run to pages), or its kind where it says nothing."""
    return next(iter(str(error).splitlines()), "")[:limit] or type(error).__name__


def closest(name: str, names: list[str]) -> str:
    """``closest: a, b`` of ``names`` where some are close to ``name``, else ``options: <every one>``."""
    close = difflib.get_close_matches(name, names, n=3, cutoff=0.6)
    return f"closest: {', '.join(close)}" if close else f"options: {', '.join(names) or 'none'}"


def unknown_option(group: str, name: str, options: list[str]) -> str:
    """What to say of ``group=name`` where the config group has no such option."""
    return f"{group}={name!r}: no {group}/{name}.yaml in the config dir; {closest(name, options)}"
