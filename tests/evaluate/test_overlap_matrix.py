"""metrics.json's overlap (partners shared, partners per person, repeat-client rate) read off the cluster x
partner presence matrix: the same document as counting with pandas."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from pace_linkage.evaluate import metrics
from pace_linkage.evaluate.quality import partner_overlap


def overlap_by_pandas(clusters: pd.DataFrame, id_col: str, sources: list[str]) -> dict:
    ov = partner_overlap(clusters, id_column=id_col)
    pos = {p: i for i, p in enumerate(ov["partners"])}
    full = [[ov["matrix"][pos[a]][pos[b]] if a in pos and b in pos else 0 for b in sources] for a in sources]
    per_person = clusters[[id_col, "source"]].drop_duplicates().groupby(id_col).size().value_counts()
    rec_per = clusters.groupby("source").size()
    repeat = {s: round(float(1 - full[i][i] / rec_per[s]), 6) if rec_per.get(s, 0) else 0.0
              for i, s in enumerate(sources)}
    return {"partners": sources, "matrix": full,
            "partners_per_person": {str(k): int(per_person.get(k, 0)) for k in range(1, len(sources) + 1)},
            "repeat_client_rate": repeat}


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["dwp", "sds", "fife"]),
                          st.one_of(st.sampled_from(["p1", "p2", "p3", "p4"]), st.none())), min_size=1, max_size=30),
       st.sets(st.sampled_from(["dwp", "sds", "fife", "nhs"]), min_size=1))
def test_overlap_is_the_pandas_count(rows, extra_sources):
    clusters = pd.DataFrame(rows, columns=["source", "pace_id"], dtype=object)
    sources = sorted(set(clusters["source"]) | extra_sources)
    assert metrics._overlap(clusters, "pace_id", sources) == overlap_by_pandas(clusters, "pace_id", sources)
    filled = clusters.fillna({"pace_id": "p9"})
    assert metrics._overlap(filled, "pace_id", sources) == overlap_by_pandas(filled, "pace_id", sources)
    assert np.all(filled["pace_id"].notna())
