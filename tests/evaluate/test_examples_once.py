"""No pair is explained twice on a report page: the top errors leave out the pairs explained near the
threshold."""

from __future__ import annotations

from unittest.mock import patch

from conftest import library_run

from pace_linkage.evaluate import metrics
from pace_linkage.evaluate import quality as evaluate


def test_the_top_errors_leave_out_the_pairs_already_explained(synth_data):
    run = library_run(synth_data / "extracts")
    person = metrics.run_person_codes(run, metrics.load_truth(synth_data / "truth.csv"))
    frame = run.blocking.pairs.assign(match_probability=run.scored["match_probability"].to_numpy())
    _, code = evaluate.confusion_codes(frame, run.records, person, run.threshold)
    picked: list[list[int]] = []

    def positions(_run, pos, titles, cache=None):
        picked.append(list(pos))
        return [{"position": p} for p in pos]

    with patch.object(metrics, "explain_pairs", positions):
        first = metrics.top_errors(run, code, 5)
        shown = [e["position"] for e in first["false_positives"]][:2] + [e["position"] for e in first["false_negatives"]][:2]
        again = metrics.top_errors(run, code, 5, shown=shown)
    assert len(shown) == 4
    again_positions = [e["position"] for side in again.values() for e in side]
    assert not set(shown) & set(again_positions)
    # the rest keep their order, and the next highest-weighted errors take the places left
    assert [e["position"] for e in again["false_positives"]][:3] == [e["position"] for e in first["false_positives"]][2:]
