"""Sharing scenarios: what the partnership would get under each way of sharing (the feasibility study's question).

A scenario (``config/scenarios.yaml``, validated by :func:`pace_linkage.config.load_scenarios`) is a named set of
transforms of a base config. :func:`apply_scenario` applies them as a pure function, so a scenario run is an
ordinary pipeline run on the transformed config (flows/scenarios.py runs one per scenario). The rest of this
module turns the runs' ``metrics.json`` documents into the comparison table, and measures what an attacker
without the key re-identifies from the pseudonymised scenario's encodings.

Transforms, in order:

* ``partners``: only these sources take part.
* ``withhold_fields``: a field is removed from the ``sharing.allowed_fields`` of the partners listed (``all``:
  every partner). A field outside ``allowed_fields`` is never read (pace_linkage.study.sharing).
* ``only_fields``: every partner's ``allowed_fields`` is cut down to these.
* ``consent: required``: each partner's ``items.consent`` column (its first column) becomes its
  ``sharing.consent_column``, unless the agreement already names one; rows without an accepted consent value are
  withheld. A partner that records no consent at all is left out (nothing shows consent to share).

Blocking rules and comparisons are not changed: a rule on a field nobody shares finds only nulls and proposes
no pair, and a comparison on it is always at its null level (no evidence either way).

Comparison conventions (:func:`comparison_rows`):

* precision / recall / F1 are pairwise, over the records the scenario linked (truth restricted to them);
* ``recall_all_true_pairs`` = true positives / true pairs in the *whole* truth file: what withholding costs,
  since pairs whose records were never shared cannot be found;
* persons = distinct pace ids; ``persons_2plus`` = persons whose records are held by two or more partners;
* ``f1_change`` = F1 minus the baseline scenario's F1; ``recall_all_change`` = recall of all true pairs minus
  the baseline's: what a scenario costs, which the F1 over the records it linked does not show.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pace_linkage.config import (
    PaceConfig,
    ScenariosConfig,
    ScenarioSpec,
    SharingAgreement,
    SourceConfig,
    load_config,
    load_scenarios,
)
from pace_linkage.counting import pairs_within_groups
from pace_linkage.errors import ConfigError

NOT_APPLICABLE = "n/a"
AGGREGATES_REASON = ("partners send only suppressed counts; no record is linked, so there are no "
                     "persons, overlap or linkage quality to measure")


# --------------------------------------------------------------------------------------------------
# Transforms
# --------------------------------------------------------------------------------------------------
def _withheld_for(source: str, scenario: ScenarioSpec) -> set[str]:
    return {f for f, partners in scenario.withhold_fields.items() if "all" in partners or source in partners}


def _shared_fields(src: SourceConfig, scenario: ScenarioSpec) -> list[str] | None:
    """The source's allowed fields under the scenario, or None when the scenario leaves them alone."""
    current = list(src.sharing.allowed_fields) if src.sharing and src.sharing.allowed_fields is not None else None
    held = current if current is not None else list(src.columns)
    withheld = _withheld_for(src.name, scenario)
    allowed = [f for f in held if f not in withheld]
    if scenario.only_fields is not None:
        allowed = [f for f in allowed if f in scenario.only_fields]
    if current is None and allowed == held:
        return None  # nothing restricted: keep "all mapped fields"
    return allowed


def _apply_to_source(src: SourceConfig, scenario: ScenarioSpec) -> SourceConfig:
    sharing = src.sharing.model_copy(deep=True) if src.sharing else None
    allowed = _shared_fields(src, scenario)
    if allowed is not None:
        sharing = sharing or SharingAgreement()
        sharing.allowed_fields = allowed
    consent_cols = src.items.get("consent") or []
    if scenario.consent == "required" and consent_cols and not (sharing and sharing.consent_column):
        sharing = sharing or SharingAgreement()
        sharing.consent_column = consent_cols[0]
    if sharing is src.sharing or sharing == src.sharing:
        return src.model_copy(deep=True)
    out = src.model_copy(deep=True, update={"sharing": sharing})
    out.config_file = src.config_file
    return out


def apply_scenario(cfg: PaceConfig, scenario: ScenarioSpec) -> PaceConfig:
    """The base config transformed by the scenario (a new object; ``cfg`` is not changed).

    A scenario with no transform gives a config equal to ``cfg`` (same :meth:`PaceConfig.hash`)."""
    sources = list(cfg.sources.items)
    if scenario.partners is not None:
        unknown = sorted(set(scenario.partners) - {s.name for s in sources})
        if unknown:
            raise ConfigError(f"scenario {scenario.name}: partners: {', '.join(repr(u) for u in unknown)} "
                              f"not among the config's sources")
        sources = [s for s in sources if s.name in scenario.partners]
    if scenario.consent == "required":  # no recorded consent, no basis to share: the partner is left out
        sources = [s for s in sources if (s.sharing and s.sharing.consent_column) or s.items.get("consent")]
    new = cfg.model_copy(deep=True)
    new.config_file = cfg.config_file
    new.sources = cfg.sources.model_copy(deep=True, update={"items": [_apply_to_source(s, scenario) for s in sources]})
    return new


def scenario_config(name: str, scenarios_file: str | None = None, base: PaceConfig | None = None) -> PaceConfig:
    """The config of the named linkage scenario of ``scenarios_file`` (default config/scenarios.yaml): ``base``
    (default: the scenario's own base config) transformed by :func:`apply_scenario`."""
    doc = load_scenarios(scenarios_file)
    spec = doc.get(name)
    if spec.mode != "linkage":
        raise ConfigError(f"{doc.config_file}: scenario '{name}' is {spec.mode}-only: nothing to link "
                          "(run it with `pace-linkage scenarios`)")
    return apply_scenario(base if base is not None else load_config(spec.config_path), spec)


def select_scenarios(doc: ScenariosConfig, only: list[str] | None) -> list[ScenarioSpec]:
    """The scenarios to run, in file order; a ConfigError naming every unknown ``only`` name."""
    if not only:
        return list(doc.scenarios)
    names = [s.name for s in doc.scenarios]
    unknown = [n for n in only if n not in names]
    if unknown:
        raise ConfigError(f"--only: no scenario named {', '.join(repr(u) for u in unknown)} in {doc.config_file} "
                          f"(scenarios: {', '.join(names)})")
    return [s for s in doc.scenarios if s.name in only]


def scenario_configs(specs: list[ScenarioSpec]) -> dict[str, PaceConfig]:
    """Each scenario's effective config (its base config, loaded once per file, transformed)."""
    bases: dict[str, PaceConfig] = {}
    out = {}
    for s in specs:
        if s.config_path not in bases:
            bases[s.config_path] = load_config(s.config_path)
        out[s.name] = apply_scenario(bases[s.config_path], s)
    return out


def require_keys(cfgs: dict[str, PaceConfig], specs: list[ScenarioSpec], ephemeral: bool) -> None:
    """One ConfigError line if a pseudonymised linkage scenario's key is to come from an environment variable
    that is not set (or not a valid key) and no ephemeral key was asked for. Secret blocks are checked by the
    flow, which can reach Prefect."""
    from pace_linkage.study.pseudonymise import load_key

    if ephemeral:
        return
    for s in specs:
        ps = cfgs[s.name].pseudonymise
        if s.mode == "linkage" and ps is not None and ps.key.env:
            try:
                load_key(ps.key)
            except ConfigError as exc:
                raise ConfigError(f"scenario {s.name}: {str(exc).splitlines()[0]} -- set it, or pass "
                                  "--ephemeral-key for a random key used for this run only") from None


def shared_fields_by_source(cfg: PaceConfig) -> dict[str, list[str]]:
    """Per source, the canonical fields it shares into the centre (what the report lists per scenario)."""
    out = {}
    for s in cfg.sources.items:
        allowed = s.sharing.allowed_fields if s.sharing and s.sharing.allowed_fields is not None else None
        out[s.name] = [f for f in s.columns if allowed is None or f in allowed]
    return out


# --------------------------------------------------------------------------------------------------
# The comparison
# --------------------------------------------------------------------------------------------------
def truth_pairs(truth: pd.DataFrame) -> int:
    """True matching pairs in a truth file (records with a blank or null person id are their own person)."""
    pid = truth["person_id"]
    pid = pid[pid.notna() & pid.astype(str).str.strip().ne("")]
    return pairs_within_groups(pid.value_counts().to_numpy(dtype=np.int64))


def _persons_2plus(metrics: dict) -> int | None:
    ppp = (metrics.get("overlap") or {}).get("partners_per_person")
    if not isinstance(ppp, dict):
        return None
    return int(sum(int(v) for k, v in ppp.items() if str(k).isdigit() and int(k) >= 2))


def _persons(metrics: dict) -> int | None:
    id_col = (metrics.get("run") or {}).get("id_column", "pace_id")
    main = (metrics.get("clusters") or {}).get(id_col) or {}
    return int(main["clusters"]) if "clusters" in main else None


def linkage_row(scenario: ScenarioSpec, metrics: dict, all_true_pairs: int) -> dict:
    """One comparison row from a linkage scenario's metrics.json (``f1_change`` is filled in later)."""
    counts = metrics.get("counts") or {}
    pw, bc = metrics.get("pairwise") or {}, metrics.get("bcubed") or {}
    return {
        "scenario": scenario.name, "label": scenario.label, "mode": scenario.mode,
        "partners": len((metrics.get("run") or {}).get("sources") or []),
        "records_linked": counts.get("rows_accepted"), "rows_withheld": counts.get("rows_withheld"),
        "precision": pw.get("precision"), "recall": pw.get("recall"), "f1": pw.get("f1"),
        "recall_all_true_pairs": (pw["tp"] / all_true_pairs if all_true_pairs else 1.0) if "tp" in pw else None,
        "bcubed_f1": bc.get("f1"), "persons": _persons(metrics), "persons_2plus": _persons_2plus(metrics),
        "f1_change": None, "note": "",
    }


def aggregates_row(scenario: ScenarioSpec, partners: int, reason: str = AGGREGATES_REASON) -> dict:
    """The comparison row of an aggregate-only scenario: every linkage figure is "n/a", with the reason."""
    row = {k: NOT_APPLICABLE for k in ("records_linked", "rows_withheld", "precision", "recall", "f1",
                                       "recall_all_true_pairs", "bcubed_f1", "persons", "persons_2plus", "f1_change")}
    return {"scenario": scenario.name, "label": scenario.label, "mode": scenario.mode, "partners": partners,
            **row, "note": reason}


def failed_row(scenario: ScenarioSpec, partners: int, error: str) -> dict:
    """The row of a linkage scenario whose run failed: figures "n/a", the (value-free) error as the note."""
    return {**aggregates_row(scenario, partners, reason=f"failed: {error}"), "mode": "failed"}


def _is_number(v) -> bool:
    return isinstance(v, float | int) and not isinstance(v, bool)


def comparison_rows(rows: list[dict], baseline: str) -> list[dict]:
    """Fill in ``f1_change`` (F1 minus the baseline's F1) and ``recall_all_change`` (likewise for the recall of
    all true pairs) where both are numbers; rows without linkage keep
    their "n/a", and a linked row is left None when the baseline was not run. Order is kept."""
    base = next((r for r in rows if r["scenario"] == baseline), None)
    base_f1 = base.get("f1") if base else None
    base_all = base.get("recall_all_true_pairs") if base else None
    out = []
    for r in rows:
        r = dict(r)
        if _is_number(r.get("f1")):
            r["f1_change"] = r["f1"] - base_f1 if _is_number(base_f1) else None
        if _is_number(r.get("recall_all_true_pairs")):
            r["recall_all_change"] = r["recall_all_true_pairs"] - base_all if _is_number(base_all) else None
        out.append(r)
    return out


COLUMNS = ["scenario", "label", "partners", "records_linked", "rows_withheld", "precision", "recall", "f1",
           "recall_all_true_pairs", "bcubed_f1", "persons", "persons_2plus", "f1_change", "recall_all_change", "note"]


def comparison_frame(rows: list[dict]) -> pd.DataFrame:
    """scenarios.csv: one row per scenario in the scenarios file's order; rates to 6 decimals; "n/a" kept."""
    def cell(v):
        return round(float(v), 6) if isinstance(v, float) else ("" if v is None else v)

    return pd.DataFrame([[cell(r.get(c)) for c in COLUMNS] for r in rows], columns=COLUMNS, dtype=object)


# --------------------------------------------------------------------------------------------------
# Pseudonymisation: what an attacker without the key re-identifies
# --------------------------------------------------------------------------------------------------
def attack_study(records: pd.DataFrame, cfg: PaceConfig, key: bytes,
                 fields: tuple[str, ...] = ("surname", "first_name")) -> dict:
    """Frequency alignment (tokens and Bloom filters) and pattern mining (Bloom filters) against the encodings
    that :func:`pace_linkage.study.pseudonymise.pseudonymise_records` gives ``records`` (NORMALISED plaintext) under
    ``key``, per field. The attacker's public list is the plaintext frequency list of the field over all
    ``records`` (a census-like list that fits the data exactly: the attacker's best case); the plaintext only
    scores the guesses. Returns aggregates only (shares and counts, never a value or a token)."""
    from pace_linkage.study import pseudonymise as ps

    if cfg.pseudonymise is None:
        raise ConfigError(f"{cfg.config_file or 'config'}: pseudonymise: section missing (no encodings to attack)")
    encoded = ps.pseudonymise_records(records, cfg, key)
    out: dict = {}
    for field in fields:
        if field not in records.columns or field not in encoded.columns:
            continue
        plain = records[field]
        public = plain.dropna().astype(str).value_counts()
        res = {"records": int(plain.notna().sum()), "distinct_values": int(plain.dropna().nunique()),
               "token_frequency": _share(ps.frequency_attack(encoded[field], plain, public))}
        bf = field + "_bf"
        if bf in encoded.columns:
            res["bloom_frequency"] = _share(ps.frequency_attack(encoded[bf], plain, public))
            res["bloom_pattern"] = _share(ps.pattern_attack(encoded[bf], plain, public))
        out[field] = res
    return out


def _share(result: dict) -> dict:
    keep = ("attack", "records", "aligned", "reidentified", "share", "qgrams_learned")
    return {k: (round(float(result[k]), 6) if k == "share" else result[k]) for k in keep if k in result}
