"""The normalise stage: identifiers and personal details to clean, comparable forms.

Scalar functions (thin wrappers: each applies the same per-value rule its column version maps
over the column's unique values; each module documents its rules)::

    nino, postcode, postcode_parts, postal_code, dob, date, name, name_canon, name_sound,
    sex, phone, email, text, ident

Column versions return ``(clean values, reason codes)``; clean values are pandas ``string`` dtype
(null = ``pd.NA``), reasons an object Series of codes from :mod:`.reasons` or None::

    nino_series, postcode_series, dob_series, date_series, name_series, name_canon_series,
    sex_series, phone_series, email_series, text_series, ident_series

The ``*_columns`` variants also return the derived columns (suffix, parts, canon/sound/initial, e-mail user
part and domain, postal-code prefixes).
The pipeline calls :func:`normalise_records`; :func:`coverage_counts` summarises its output.
"""

from pace_linkage.normalise.contact import (
    email,
    email_columns,
    email_series,
    phone,
    phone_series,
    sex,
    sex_series,
)
from pace_linkage.normalise.dates import (
    DateLimits,
    date,
    date_columns,
    date_series,
    day_month_order,
    dob,
    dob_series,
    parse_date,
)
from pace_linkage.normalise.names import (
    name,
    name_canon,
    name_canon_series,
    name_columns,
    name_series,
    name_sound,
    nicknames,
)
from pace_linkage.normalise.nino import nino, nino_columns, nino_series, nino_suffix
from pace_linkage.normalise.postal import postal_code, postal_code_columns
from pace_linkage.normalise.postcode import postcode, postcode_columns, postcode_parts, postcode_series
from pace_linkage.normalise.reasons import CODES, REASONS
from pace_linkage.normalise.records import (
    coverage_counts,
    derive_columns,
    deriver,
    field_columns,
    is_given_name_field,
    normalise_field,
    normalise_records,
)
from pace_linkage.normalise.text import ident, ident_series, text, text_series

__all__ = [
    "CODES", "REASONS",
    "coverage_counts", "derive_columns", "deriver", "field_columns", "is_given_name_field", "normalise_field", "normalise_records",
    "DateLimits", "date", "date_columns", "date_series", "day_month_order", "dob", "dob_series", "parse_date",
    "email", "email_columns", "email_series", "phone", "phone_series", "sex", "sex_series",
    "ident", "ident_series", "text", "text_series",
    "name", "name_canon", "name_canon_series", "name_columns", "name_series", "name_sound", "nicknames",
    "nino", "nino_columns", "nino_series", "nino_suffix",
    "postal_code", "postal_code_columns",
    "postcode", "postcode_columns", "postcode_parts", "postcode_series",
]
