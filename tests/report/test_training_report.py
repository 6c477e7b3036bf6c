"""The training-sessions section: the prior's source, each session's pairs, lambda, outcome and m."""

from __future__ import annotations

import json

from pace_linkage.engine.sessions import sessions_summary
from pace_linkage.engine.settings import EMSettings, PriorRules
from pace_linkage.evaluate.metrics import model_summary
from pace_linkage.report.render import render_report
from tests.engine.test_training_sessions import DOB, HOUSEHOLD, NAMES, households, linkage, trained


def test_every_session_with_its_lambda_m_and_outcome_is_on_the_page():
    rec, _ = households(n=120, seed=4)
    s = linkage([HOUSEHOLD, DOB, NAMES])
    s.em = EMSettings(u_sample_pairs=20_000, prior_rules=PriorRules(rules=[DOB], recall=0.5))
    model = trained(rec, s)
    metrics = {"model": model_summary(model), "training": sessions_summary(model.info)}
    json.dumps(metrics)  # metrics.json can hold it
    html = render_report(metrics, title="t")
    section = html[html.index('id="training"'):html.index("</main>")]
    assert "household (dropped)" in section and "dropped: lambda" in section and "ran to the edge" in section
    assert "deterministic rules (dob) at a stated recall of 0.5" in section
    hh = next(x for x in metrics["training"]["sessions"] if x["rule"] == "household")
    assert f"{hh['lambda']:.6f}" in section
    dob_m = next(x for x in metrics["training"]["sessions"] if x["rule"] == "dob")["m"]["first_name"][0]
    assert "first_name: exact" in section and f"{dob_m:.4g}" in section
    assert "F0" not in section and "S0" not in section  # no record value


def test_a_model_without_sessions_has_no_section():
    assert sessions_summary({}) == {}
    assert 'id="training"' not in render_report({"training": {}}, title="t")
