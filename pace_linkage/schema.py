"""Canonical record layout: the contract between pipeline stages.

After ``validate`` a record frame has the key columns below plus one *raw text* column per mapped
canonical field. After ``normalise`` it has the clean field columns and their derived columns
(see :class:`pace_linkage.config.FieldSpec`), plus ``flags``. Records are then sorted by
(source, record_id) and given a positional index 0..N-1; pairs refer to records by that position.
"""

import re

SOURCE = "source"  # the source (partner) name from config
RECORD_ID = "record_id"  # the partner's own record id, as text (leading zeros kept)
LINE = "line"  # 1-based physical line (CSV/JSONL) or row (xlsx) where the record starts
FLAGS = "flags"  # ';'-joined reason codes for values nulled during normalisation
KEY_COLUMNS = [SOURCE, RECORD_ID]

# Pair frames: positional indexes of the two records (left < right) and the blocking rule (index
# into config.linkage.blocking) that first produced the pair.
LEFT = "l"
RIGHT = "r"
RULE = "rule"
MATCH_WEIGHT = "match_weight"
MATCH_PROBABILITY = "match_probability"

# Truth files (synthetic or clerical): which person each record belongs to.
TRUTH_COLUMNS = [SOURCE, RECORD_ID, "person_id"]

# Quarantine summary columns (no raw values); the original rows are kept in a separate file.
QUARANTINE_COLUMNS = [SOURCE, "file", LINE, RECORD_ID, "reasons"]

# The version stamped on every output (metrics, manifests, report footers): the package's version.
VERSION = "0.1.0"

# Run ids name the run in manifests and the store, and become folder names (``OUT/.staging-<run id>``), so a
# run id is a safe token: never a path separator, never ``..``, nothing a shell or file system reads specially.
RUN_ID_MAX = 128
RUN_ID_RULE = (f"1 to {RUN_ID_MAX} letters, digits, '.', '_' or '-', starting with a letter or digit, "
               "without '..'")
_RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def is_run_id(value: object, max_len: int = RUN_ID_MAX) -> bool:
    """Whether ``value`` is a safe run id (:data:`RUN_ID_RULE`, at most ``max_len`` characters)."""
    return (isinstance(value, str) and 0 < len(value) <= max_len and bool(_RUN_ID.fullmatch(value))
            and ".." not in value)
