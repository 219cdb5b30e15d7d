"""mkdocs hooks: the pages that are generated, so that they cannot drift from what they describe.

- ``reference/configuration.md``: every config group of ``conf/``, every option file, its keys and values (and
  its comments, which say the valid values), read from the files at build time.
- ``reference/api/``: one page per package of ``src/`` (found by walking it, so a module that moves moves its
  page), each module rendered from its docstrings by mkdocstrings.
- ``BENCHMARKS.md`` and ``CHANGELOG.md``: the repository's own files, served as pages of the site.

Named in ``mkdocs.yml`` (``hooks:``); ``make docs`` builds the site, ``make test`` builds it with ``--strict``.
"""

from pathlib import Path

import yaml
from mkdocs.structure.files import File

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "conf"
SRC = ROOT / "src"
COPIED = ("BENCHMARKS.md", "CHANGELOG.md")


def on_files(files, config):
    """Add the generated pages to the site's files (nothing is written into docs/)."""
    pages = {"reference/configuration.md": configuration_page(), **api_pages()}
    for name in COPIED:
        if (ROOT / name).is_file():
            pages[name] = (ROOT / name).read_text()
    for uri, content in pages.items():
        files.append(File.generated(config, uri, content=content))
    return files


def flatten(value, prefix: str = "") -> list[tuple[str, object]]:
    """``{"a": {"b": 1}}`` -> ``[("a.b", 1)]``; lists and empty mappings are values."""
    if isinstance(value, dict) and value:
        return [item for key, inner in value.items() for item in flatten(inner, f"{prefix}{key}.")]
    return [(prefix.rstrip("."), value)]


def package_of(group: str, text: str) -> str:
    """Where Hydra puts an option file's keys: its ``# @package`` header (``_global_``: the top), else its group's
    path (``hydra/launcher`` -> ``hydra.launcher``)."""
    for line in text.splitlines():
        if line.startswith("# @package "):
            package = line.split(maxsplit=2)[2].strip()
            return "" if package == "_global_" else package.replace("_group_", group.replace("/", "."))
    return group.replace("/", ".")


def _cell(value) -> str:
    text = "null" if value is None else str(value).lower() if isinstance(value, bool) else str(value)
    return "`" + text.replace("|", "\\|").replace("`", "'") + "`"


def groups() -> dict[str, list[Path]]:
    """Each config group of ``conf/`` (``hydra/launcher`` included) and its option files, sorted."""
    found: dict[str, list[Path]] = {}
    for path in sorted(CONF.rglob("*.yaml")):
        if path.parent != CONF:
            found.setdefault(path.parent.relative_to(CONF).as_posix(), []).append(path)
    return found


def configuration_page() -> str:
    lines = ["# Configuration reference", "",
             "Generated from `conf/` each time the site is built: every config group, every option file and "
             "every key it sets, with the file as it is (its comments list the valid values). Select an option "
             "with `group=option` (`optimizer=SGD`), sweep a category with `category=group`, set one key with "
             "`key=value` (`optimizer.lr=0.01`). [Concepts](../concepts.md) says what a category is.", "",
             "## The base combination: `conf/config.yaml`", "",
             "The defaults list picks one option per group: the base every row is compared with.", "",
             "```yaml", (CONF / "config.yaml").read_text().rstrip(), "```", ""]
    lines += sweeper_section()
    for group, paths in groups().items():
        lines += [f"## `{group}`", "", f"{len(paths)} option file(s) in `conf/{group}/`.", "",
                  "| option | keys it sets |", "|---|---|"]
        for path in paths:
            try:
                content = yaml.safe_load(path.read_text()) or {}
            except yaml.YAMLError as error:  # a broken option file fails the build with its name
                raise ValueError(f"conf/{group}/{path.name}: not YAML: {error}") from error
            package = package_of(group, path.read_text())
            keys = ", ".join(f"`{key}`" for key, _ in _keys(content, package))
            lines.append(f"| [`{path.stem}`](#{_anchor(group, path.stem)}) | {keys} |")
        lines.append("")
        for path in paths:
            content = yaml.safe_load(path.read_text()) or {}
            package = package_of(group, path.read_text())
            where = f"its keys go under `{package}`" if package else \
                "its keys are the config's own (`@package _global_`)"
            lines += [f"### `{group}/{path.stem}` {{#{_anchor(group, path.stem)}}}", "",
                      f"`{group}={path.stem}`; {where}.", "", "| key | value |", "|---|---|"]
            lines += [f"| `{key}` | {_cell(value)} |" for key, value in _keys(content, package)]
            lines += ["", f"??? note \"conf/{group}/{path.name}\"", "    ```yaml"]
            lines += [f"    {line}".rstrip() for line in path.read_text().rstrip().splitlines()]
            lines += ["    ```", ""]
    return "\n".join(lines) + "\n"


def sweeper_section() -> list[str]:
    """``hydra.sweeper.*``: the category sweeper's settings, read from the dataclass that holds them (found by
    walking ``src/``, wherever it lives), each with its default and the comments beside it."""
    import dataclasses
    import importlib
    import re

    source = next(path for path in sorted(SRC.rglob("*.py")) if "class SweepSettings" in path.read_text())
    module = importlib.import_module(".".join(source.relative_to(SRC).with_suffix("").parts))
    defaults = module.SweepSettings()
    text = source.read_text()
    body = text[text.index("class SweepSettings"):].splitlines()[1:]
    comments: dict[str, str] = {}
    above: list[str] = []
    for line in body:
        if re.match(r"\s{4}(@|def )", line):
            break
        if (match := re.match(r"\s{4}#\s?(.*)", line)):
            above.append(match.group(1))
        elif (match := re.match(r"\s{4}(\w+):[^#]*(?:#\s?(.*))?$", line)):
            comments[match.group(1)] = " ".join([*above, match.group(2) or ""]).strip()
            above = []
    lines = ["## The sweeper: `hydra.sweeper.*`", "",
             "The category sweeper's settings (`hydra.sweeper.<key>=<value>` on the command line), read from "
             f"`{source.relative_to(ROOT)}`: each key, its default and what it does.", "",
             "| key | default | what it does |", "|---|---|---|"]
    for item in dataclasses.fields(defaults):
        value = getattr(defaults, item.name)
        lines.append(f"| `hydra.sweeper.{item.name}` | {_cell(value)} | "
                     f"{comments.get(item.name, '').replace('|', '&#124;')} |")
    return lines + [""]


def _keys(content: dict, package: str) -> list[tuple[str, object]]:
    """Each key the file sets, dotted from the config's top, with its value (its defaults list left out)."""
    content = {key: value for key, value in content.items() if key != "defaults"} if isinstance(content, dict) \
        else content
    return [(f"{package}.{key}" if package else key, value) for key, value in flatten(content) if key]


def _anchor(group: str, option: str) -> str:
    return "".join(char if char.isalnum() else "-" for char in f"{group}-{option}").lower()


def packages() -> dict[str, list[str]]:
    """Each package under ``src/`` (a folder with ``__init__.py``, or a namespace package's folder) and the
    dotted names of its modules, itself first: ``{"hpsweep.sweep": ["hpsweep.sweep", "hpsweep.sweep.plan", ...]}``.
    Modules directly in ``hpsweep/`` belong to ``hpsweep``; a subpackage has its own page."""
    found: dict[str, list[str]] = {}
    for init in sorted(SRC.rglob("*.py")):
        if "__pycache__" in init.parts:
            continue
        parts = list(init.relative_to(SRC).with_suffix("").parts)
        module = parts[:-1] if parts[-1] == "__init__" else parts
        if parts[-1] != "__init__" and not (init.parent / "__init__.py").is_file():
            continue  # a script beside no package
        package = ".".join(parts[:-1])
        found.setdefault(package, [])
        name = ".".join(module)
        if parts[-1] == "__init__":
            found[package].insert(0, name)
        elif not parts[-1].startswith("_"):
            found[package].append(name)
    return {package: modules for package, modules in found.items() if modules}


def api_pages() -> dict[str, str]:
    index = ["# API reference", "",
             "Rendered from the docstrings of `src/` each time the site is built, one page per package (found by "
             "walking the source tree). The layers and what each module is for: [Architecture](../../ARCHITECTURE.md).",
             "", "| package | modules |", "|---|---|"]
    pages = {}
    for package, modules in packages().items():
        page = f"reference/api/{package}.md"
        members = [module for module in modules if module != package]
        names = ", ".join(f"`{member.rsplit('.', 1)[-1]}`" for member in members)
        index.append(f"| [`{package}`]({package}.md) | {names} |")
        lines = [f"# `{package}`", ""]
        for module in modules:
            lines += [f"::: {module}", "    options:", "      show_root_heading: true", "      heading_level: 2",
                      ""]
        pages[page] = "\n".join(lines) + "\n"
    pages["reference/api/index.md"] = "\n".join(index) + "\n"
    return pages
