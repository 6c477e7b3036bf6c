"""Synthetic PACE population and partner extracts.

``generate(people, seed, out_dir)`` writes ``out_dir/extracts/`` (one file per partner, in the
partner's own format as ``config/partners/<name>.yaml`` describes, plus employer extracts),
``out_dir/truth.csv``, ``out_dir/employer_truth.csv`` and ``out_dir/person_employer_truth.csv`` (each person
record's employer; all outside ``extracts/``) and
``out_dir/data_dictionary.md``. Same people/seed/config/profile -> byte-identical files.

``generate_batches(people, seed, out_dir, batches)`` (:mod:`synthetic.batches`) writes the same records
as K monthly deliveries (new, updated and deleted records), with truth per delivery.
"""

from __future__ import annotations

from synthetic.batches import generate_batches
from synthetic.generate import generate

__all__ = ["generate", "generate_batches"]
