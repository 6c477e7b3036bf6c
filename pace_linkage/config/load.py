"""Reading the configuration: the only place YAML is read.

A run is described by one top-level file (default ``config/pace.yaml``) that may ``include`` source
files (``config/partners/*.yaml``). Every model forbids unknown keys, and :func:`load_config` gathers
*all* mistakes before raising one :class:`~pace_linkage.errors.ConfigError` whose message has one
line per mistake, each naming the file and the dotted key (in the manner of Splink's ErrorLogger).
"""

from __future__ import annotations

import copy
import functools
import glob
import os
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from pace_linkage.config.checks import check_references, partial_references, scenario_references
from pace_linkage.config.pace import PaceConfig
from pace_linkage.config.sources import SourceConfig
from pace_linkage.config.study import ScenariosConfig
from pace_linkage.errors import ConfigError

DEFAULT_CONFIG = Path(__file__).resolve().parent.parent.parent / "config" / "pace.yaml"
DEFAULT_SCENARIOS = DEFAULT_CONFIG.parent / "scenarios.yaml"


class DuplicateKeyError(yaml.constructor.ConstructorError):
    """A key given twice in one mapping (YAML would silently keep the last one)."""

    def __init__(self, key: str, mark):
        super().__init__(problem=f"key '{key}' is given twice", problem_mark=mark)
        self.key = key


class LoneSurrogateError(yaml.constructor.ConstructorError):
    """A string escapes half of a UTF-16 surrogate pair (e.g. "\\ud800"): it cannot be written as UTF-8."""

    def __init__(self, mark):
        super().__init__(problem="a string holds an escaped lone surrogate (not valid Unicode)", problem_mark=mark)


class ConfigLoader(yaml.SafeLoader):
    """YAML 1.2 booleans: only true/false. (YAML 1.1 would read `on:`, `no`, `off` as booleans.) A key
    given twice in one mapping is an error, not a silent override. A string must be valid Unicode: an
    escaped lone surrogate would break every file the run writes, so it is refused where it is written."""

    def construct_scalar(self, node):
        value = super().construct_scalar(node)
        if isinstance(value, str) and not value.isascii():
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise LoneSurrogateError(node.start_mark) from None
        return value

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if isinstance(key, str | int | float | bool) and key in seen:
                raise DuplicateKeyError(str(key), key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


ConfigLoader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag != "tag:yaml.org,2002:bool"] for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
for _first in "tTfF":
    ConfigLoader.add_implicit_resolver(
        "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list(_first)
    )


@functools.lru_cache(maxsize=64)
def _parsed(text: str) -> Any:
    """The YAML document of ``text``, parsed once per process: a command and the flow it starts read the same
    config files, and parsing is most of a config's loading time. Keyed by the text itself, so a file changed in
    between is parsed again; a document that does not parse raises every time."""
    return yaml.load(text, Loader=ConfigLoader)  # noqa: S506 (a SafeLoader subclass)


def read_yaml(path: Path, errors: list[str]) -> Any:
    """The YAML document at ``path`` in the config's dialect (:class:`ConfigLoader`); None, with one line
    added to ``errors`` naming the file (and line and column), if it cannot be read or parsed."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        # a relative path is read from the working directory, not from the repository or the package
        where = "" if path.is_absolute() else f" (relative to the working directory {Path.cwd()})"
        errors.append(f"{path}: file not found{where}")
        return None
    except (OSError, UnicodeDecodeError) as exc:
        errors.append(f"{path}: cannot read ({type(exc).__name__})")
        return None
    try:
        return copy.deepcopy(_parsed(text))  # a copy: the caller may change its document
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        what = (f"key '{exc.key}' is given twice" if isinstance(exc, DuplicateKeyError)
                else exc.problem if isinstance(exc, LoneSurrogateError) else "invalid YAML")
        errors.append(f"{path}:{where}: {what}")
        return None


def pydantic_messages(path: Path, exc: ValidationError, prefix: str = "") -> list[str]:
    """One line per validation error: ``<file>: <dotted key>: <what is wrong>``."""
    out = []
    for err in exc.errors(include_url=False, include_input=False):
        loc = ".".join(str(p) for p in err["loc"])
        key = f"{prefix}{loc}" if loc else prefix.rstrip(".") or "(top level)"
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown key (check spelling)"
        elif err["type"] == "missing":
            msg = "required key missing"
        out.append(f"{path}: {key}: {msg}")
    return out


def load_source(path: Path, errors: list[str]) -> SourceConfig | None:
    """One source file (``config/partners/<partner>.yaml``), validated; None, with its mistakes added to
    ``errors``, if it is not valid."""
    data = read_yaml(path, errors)
    if data is None:
        return None
    if not isinstance(data, dict):
        errors.append(f"{path}: expected a mapping of source settings")
        return None
    try:
        src = SourceConfig.model_validate(data)
    except ValidationError as exc:
        errors.extend(pydantic_messages(path, exc))
        return None
    src.config_file = str(path)
    return src


def _included_sources(data: dict, cfg_path: Path, errors: list[str]) -> list[SourceConfig]:
    """The source files named by ``sources.include`` (glob patterns relative to the config file), read and
    validated; each mistake is added to ``errors``."""
    sources_raw = data.get("sources", {})
    if isinstance(sources_raw, list):  # allow a plain list of inline sources
        sources_raw = {"items": sources_raw}
    included: list[SourceConfig] = []
    if isinstance(sources_raw, dict):
        for pattern in sources_raw.get("include", []) or []:
            # the pattern alone is the glob: the config's own folder may hold '[' or '*' in its name
            matches = sorted(str(cfg_path.parent / m) for m in glob.glob(str(pattern), root_dir=cfg_path.parent))
            if not matches:
                errors.append(f"{cfg_path}: sources.include: '{pattern}' matches no file")
            for m in matches:
                src = load_source(Path(m), errors)
                if src is not None:
                    included.append(src)
    return included


def load_config(path: str | os.PathLike | None = None) -> PaceConfig:
    """Read, include and validate the configuration; raise one ConfigError listing every mistake."""
    cfg_path = Path(path) if path else DEFAULT_CONFIG
    errors: list[str] = []
    data = read_yaml(cfg_path, errors)
    if errors:
        raise ConfigError("\n".join(errors))
    if not isinstance(data, dict):
        raise ConfigError(f"{cfg_path}: expected a mapping at the top level")
    included = _included_sources(data, cfg_path, errors)
    try:
        cfg = PaceConfig.model_validate(data)
    except ValidationError as exc:
        errors.extend(pydantic_messages(cfg_path, exc))
        errors.extend(partial_references(data, cfg_path, included))
        raise ConfigError("\n".join(errors)) from None

    cfg.config_file = str(cfg_path)
    for s in cfg.sources.items:
        s.config_file = str(cfg_path)
    cfg.sources.items = list(cfg.sources.items) + included
    errors.extend(check_references(cfg))
    if errors:
        raise ConfigError("\n".join(errors))
    return cfg


def load_scenarios(path: str | os.PathLike | None = None) -> ScenariosConfig:
    """Read and validate a scenarios file and every base config it names; one ConfigError lists every mistake
    (file and dotted key per line: unknown partner or field, duplicate name, missing baseline...)."""
    sc_path = Path(path) if path else DEFAULT_SCENARIOS
    errors: list[str] = []
    data = read_yaml(sc_path, errors)
    if errors:
        raise ConfigError("\n".join(errors))
    if not isinstance(data, dict):
        raise ConfigError(f"{sc_path}: expected a mapping at the top level")
    try:
        doc = ScenariosConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError("\n".join(pydantic_messages(sc_path, exc))) from None
    doc.config_file = str(sc_path)
    bases: dict[str, PaceConfig | None] = {}
    for i, sc in enumerate(doc.scenarios):
        sc.config_path = str(sc_path.parent / sc.config)
        if sc.config_path not in bases:
            try:
                bases[sc.config_path] = load_config(sc.config_path)
            except ConfigError as exc:
                bases[sc.config_path] = None
                errors.extend(f"{sc_path}: scenarios.{i}.config: {line}" for line in str(exc).splitlines())
        base = bases[sc.config_path]
        if base is not None:
            errors.extend(scenario_references(sc, base, f"{sc_path}: scenarios.{i}"))
    names = [s.name for s in doc.scenarios]
    for dup in sorted({n for n in names if names.count(n) > 1}):
        errors.append(f"{sc_path}: scenarios: scenario name '{dup}' is used more than once")
    if doc.baseline not in names:
        errors.append(f"{sc_path}: baseline: '{doc.baseline}' is not a scenario (scenarios: {', '.join(names)})")
    elif doc.get(doc.baseline).mode != "linkage":
        errors.append(f"{sc_path}: baseline: '{doc.baseline}' must be a linkage scenario, not aggregates")
    if errors:
        raise ConfigError("\n".join(errors))
    return doc
