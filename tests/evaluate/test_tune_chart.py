"""tune's chart zooms its rate axis to the values shown, so lines near 1 do not sit flat along the top."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd

from pace_linkage.evaluate import tune


def test_the_rate_axis_starts_just_below_the_lowest_value():
    t = np.round(np.arange(0.01, 1.0, 0.01), 2)
    sweep = pd.DataFrame({"threshold": t, "match_weight": tune.weight_from_probability(t),
                          "precision": 0.97 + 0.02 * t, "recall": 0.999 - 0.01 * t, "f1": 0.98 + 0.0 * t,
                          "links": 10, "clusters": 5, "tp": 1, "fp": 0, "fn": 0})
    rec = tune.recommend(sweep, 0.99, 0.9)
    html = tune.render_html(sweep, rec)
    specs = [json.loads(s) for s in re.findall(r'<script type="application/json" id="[^"]+">(.*?)</script>', html)]
    domains = [spec["layer"][0]["encoding"]["y"]["scale"]["domain"] for spec in specs]
    assert len(domains) == 2 and all(0.95 - 1e-9 <= lo < hi <= 1.0 + 1e-9 for lo, hi in domains)
