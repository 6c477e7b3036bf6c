"""The workers take the sources longest to read first: a workbook weighs more than its bytes."""

from __future__ import annotations

from flows import workers
from pace_linkage.config import load_config


def test_a_workbook_costs_more_than_its_bytes_and_a_text_file_its_bytes(synth_data):
    cfg = load_config()
    extracts = synth_data / "extracts"
    for src in cfg.sources.items:
        size = workers.source_size(src, extracts)
        weight = workers.XLSX_COST if src.format == "xlsx" else 1
        assert workers.reading_cost(src, extracts) == size * weight


def test_sources_are_handed_over_by_reading_cost(synth_data):
    cfg = load_config()
    extracts = synth_data / "extracts"
    handed = []

    class Recorder:
        def apply_async(self, fn, args):
            handed.append(args[0].name)

    pool = workers.Pool.__new__(workers.Pool)
    pool._pool, pool.reading = Recorder(), False
    try:
        pool.read(cfg, extracts, ())
    finally:
        workers._pending.clear()
    costs = {s.name: workers.reading_cost(s, extracts) for s in cfg.sources.items}
    assert sorted(handed) == sorted(costs)
    assert [costs[n] for n in handed] == sorted(costs.values(), reverse=True)
    assert any(s.format == "xlsx" for s in cfg.sources.items)  # the weighting is exercised
