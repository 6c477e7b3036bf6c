"""The Linker as a Python user meets it: the README's example as written, records in any order, columns the
settings read but the records lack, and the public names of ``import pace_linkage``."""

from __future__ import annotations

import re
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from conftest import ROOT

from pace_linkage.config import FieldSpec
from pace_linkage.engine.linker import Linker
from pace_linkage.engine.settings import LinkageSettings
from pace_linkage.errors import LinkageError
from pace_linkage.evaluate.quality import pairwise_scores
from pace_linkage.normalise import deriver


def readme_example() -> str:
    """The first python code block of the README's "From Python" section, exactly as written."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## From Python"):]
    return re.search(r"```python\n(.*?)```", section, re.DOTALL).group(1)


def test_the_readme_example_links_a_plain_dataframe_as_written():
    namespace: dict = {}
    exec(compile(readme_example(), "README.md", "exec"), namespace)  # noqa: S102 (the repository's own README)
    clusters = namespace["clusters"]
    assert list(clusters.columns) == ["source", "record_id", "pace_id"] and len(clusters) == 1000
    person = clusters["record_id"].str.extract(r"^rec-(\d+)-", expand=False)
    q = pairwise_scores(clusters["pace_id"], person)
    assert q["precision"] >= 0.99 and q["f1"] >= 0.95, q


SETTINGS = LinkageSettings(
    blocking=[{"name": "sound", "on": ["surname_sound"]}],
    comparisons=[{"name": "surname", "column": "surname", "levels": [{"type": "exact"}]},
                 {"name": "dob", "column": "dob", "levels": [{"type": "exact"}]}],
    em={"u_sample_pairs": 2000},
)


def people(n: int = 60) -> pd.DataFrame:
    rng = np.random.default_rng(4)
    surnames = np.array(["SMITH", "SMYTH", "BROWN", "BRAUN", "REID", "REED", "SCOTT", "ROSS"])
    sur = rng.choice(surnames, n)
    dob = pd.Timestamp("1970-01-01") + pd.to_timedelta(rng.integers(0, 9000, n), unit="D")
    return pd.DataFrame({"source": rng.choice(["a", "b"], n), "record_id": [f"r{i:03d}" for i in range(n)],
                         "surname": sur, "dob": dob.strftime("%Y-%m-%d")})


def test_a_column_the_settings_read_and_the_records_lack_is_named():
    with pytest.raises(LinkageError, match="surname_sound"):
        Linker(SETTINGS).run(people())
    with pytest.raises(LinkageError, match="'record_id'"):
        Linker(SETTINGS).run(people().drop(columns=["record_id"]))


def test_a_derive_hook_adds_the_derived_columns_the_normalisers_make():
    fields = {"surname": FieldSpec(kind="name"), "dob": FieldSpec(kind="dob")}
    res = Linker(SETTINGS, derive=deriver(fields)).run(people())
    assert "surname_sound" in res.records.columns
    assert res.records.loc[res.records["surname"] == "SMYTH", "surname_sound"].eq(
        res.records.loc[res.records["surname"] == "SMITH", "surname_sound"].iloc[0]).all()
    assert len(res.pairs) > 0


def test_records_in_any_order_are_linked_in_source_and_record_id_order_with_the_same_result():
    fields = {"surname": FieldSpec(kind="name"), "dob": FieldSpec(kind="dob")}
    linker = Linker(SETTINGS, seed=3, derive=deriver(fields))
    ordered = linker.prepare(people())
    shuffled = ordered.sample(frac=1.0, random_state=2).set_index(pd.Index(range(100, 160)))
    a, b = linker.run(ordered), linker.run(shuffled)
    assert b.records.index.equals(pd.RangeIndex(len(ordered)))
    assert b.records[["source", "record_id"]].equals(ordered[["source", "record_id"]])
    assert a.model.to_json() == b.model.to_json()
    pd.testing.assert_frame_equal(a.clusters.clusters, b.clusters.clusters)
    new = shuffled["record_id"].isin(["r001", "r002"]).to_numpy()  # the mask follows its records
    touched = linker.run(shuffled, new=new).pairs
    keys = ordered["record_id"].to_numpy()
    assert len(touched) and all({keys[l_], keys[r_]} & {"r001", "r002"} for l_, r_ in touched[["l", "r"]].to_numpy())


def test_settings_a_level_type_cannot_use_are_refused_before_any_work():
    bad = SETTINGS.model_copy(deep=True)
    bad.comparisons[0].levels[0].type = "jaro_winkler"
    with pytest.raises(LinkageError, match="comparisons.0.levels.0.threshold: required for type jaro_winkler"):
        Linker(bad)


def test_the_public_names_are_imported_on_first_use():
    code = ("import sys, pace_linkage as pl; assert 'pandas' not in sys.modules; "
            "assert pl.Linker.__module__ == 'pace_linkage.engine.linker'; pl.LinkResult; pl.LinkageSettings; "
            "pl.FSModel; pl.load_config; print(pl.__version__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert out.returncode == 0, out.stderr
    with pytest.raises(AttributeError):
        import pace_linkage

        pace_linkage.no_such_name  # noqa: B018


def test_the_step_methods_chain_to_the_same_model_and_clusters_as_run():
    fields = {"surname": FieldSpec(kind="name"), "dob": FieldSpec(kind="dob")}
    linker = Linker(SETTINGS, seed=5, derive=deriver(fields))
    records = linker.prepare(people(80))
    whole = linker.run(records)
    pairs = linker.block(records).pairs
    compared = linker.compare(records, pairs)
    model = linker.train(records, compared.counts)
    assert model.to_json() == whole.model.to_json()
    assert linker.train(records, pairs=pairs, gamma=compared.gamma).to_json() == model.to_json()
    scores = linker.score(records, pairs, compared.gamma, model)
    pd.testing.assert_frame_equal(linker.cluster(records, scores).clusters, whole.clusters.clusters)
    assert set(whole.timings) == {"block", "compare", "train", "score", "cluster", "total"}


SIMILAR = LinkageSettings(
    blocking=[{"name": "sound", "on": ["surname_sound"]}, {"name": "dob", "on": ["dob"]}],
    comparisons=[{"name": "surname", "column": "surname",
                  "levels": [{"type": "exact"}, {"type": "jaro_winkler", "threshold": 0.85}]},
                 {"name": "dob", "column": "dob", "levels": [{"type": "exact"}]}],
    em={"u_sample_pairs": 2000},
)


def test_comparing_only_the_records_the_pairs_involve_gives_the_gamma_counts_and_model_of_all():
    fields = {"surname": FieldSpec(kind="name"), "dob": FieldSpec(kind="dob")}
    linker = Linker(SIMILAR, seed=5, derive=deriver(fields), partition_pairs=7)
    records = linker.prepare(people(120))
    new = np.zeros(len(records), dtype=bool)
    new[[3, 50, 90]] = True  # a few pairs among many records
    pairs = linker.block(records, new).pairs
    assert 0 < len(pairs) and len(np.unique(pairs[["l", "r"]].to_numpy())) < len(records)
    whole = linker.compare(records, pairs)
    for given in (records, linker.context(records)):
        part = linker.compare(given, pairs, involved_only=True)
        pd.testing.assert_frame_equal(part.gamma, whole.gamma)
        assert part.partitions == whole.partitions > 1
        for name in ("G", "counts", "rule_counts"):
            assert np.array_equal(getattr(part.counts, name), getattr(whole.counts, name))
        model = linker.train(records, part.counts)
        assert model.to_json() == linker.train(records, whole.counts).to_json()


def test_a_level_reading_every_record_compares_against_all_records_even_when_asked_for_the_involved_only():
    """Weighted Jaccard weighs a word by how few records hold it: ACME is rare among all the records (the
    two names are similar) but held by both records of the pair (on those two alone, they would not be)."""
    settings = LinkageSettings(
        blocking=[{"name": "key", "on": ["key"]}],
        comparisons=[{"name": "name", "column": "name",
                      "levels": [{"type": "exact"}, {"type": "weighted_jaccard", "threshold": 0.5}]}])
    names = ["ACME LTD", "ACME PLC"] + [f"FIRM{i} {'LTD' if i % 2 else 'PLC'}" for i in range(60)]
    records = pd.DataFrame({"source": "a", "record_id": [f"r{i:02d}" for i in range(len(names))], "name": names,
                            "key": ["k", "k"] + [f"k{i}" for i in range(60)]})
    linker = Linker(settings)
    assert not linker.pairwise_levels() and Linker(SIMILAR).pairwise_levels()
    records = linker.prepare(records)
    pairs = linker.block(records, records["name"].eq("ACME PLC").to_numpy()).pairs
    assert len(pairs) == 1
    assert linker.compare(records, pairs, involved_only=True).gamma["name"].tolist() == [1]
    assert linker.compare(records, pairs).gamma["name"].tolist() == [1]
    assert linker.compare(records.iloc[:2].reset_index(drop=True), pairs).gamma["name"].tolist() == [2]


def test_training_may_be_unsupervised_whatever_the_settings_say():
    supervised = SETTINGS.model_copy(update={"training": "supervised"})  # a scalar: no validation needed
    fields = {"surname": FieldSpec(kind="name"), "dob": FieldSpec(kind="dob")}
    linker = Linker(supervised, seed=5, derive=deriver(fields))
    records = linker.prepare(people(80))
    pairs = linker.block(records).pairs
    compared = linker.compare(records, pairs)
    with pytest.raises(LinkageError, match="no truth"):
        linker.train(records, compared.counts)
    model = linker.train(records, compared.counts, training="unsupervised")
    assert model.to_json() == Linker(SETTINGS, seed=5).train(records, compared.counts).to_json()


def test_clustering_without_the_named_thresholds_gives_only_the_id_column():
    named = SETTINGS.model_copy(update={"named_thresholds": {"strict": 0.99}})
    fields = {"surname": FieldSpec(kind="name"), "dob": FieldSpec(kind="dob")}
    linker = Linker(named, seed=5, derive=deriver(fields))
    result = linker.run(people(80))
    assert list(result.clusters.clusters.columns) == ["source", "record_id", "pace_id", "pace_id_strict"]
    alone = linker.cluster(result.records, result.scores, named=False)
    pd.testing.assert_frame_equal(alone.clusters, result.clusters.clusters.drop(columns="pace_id_strict"))
