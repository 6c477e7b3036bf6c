"""Canonical record layout: the contract between pipeline stages.

After ``validate`` a record frame has the key columns below plus one *raw text* column per mapped
canonical field. After ``normalise`` it has the clean field columns and their derived columns
(see :class:`pace_linkage.config.FieldSpec`), plus ``flags``. Records are then sorted by
(source, record_id) and given a positional index 0..N-1; pairs refer to records by that position.
"""

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
