"""Reason codes: why the normalise stage turned a *present* value into null (the closed set).

Every raw value that is present (not null and not blank after trimming) but whose clean form is
null gets exactly one reason code; values that are absent or valid get none. So, per source and
field, ``present == valid + sum(reason counts)`` -- the coverage report relies on this.

Codes are ``<kind>_<what>``; the ``<kind>`` prefix is the field's normaliser kind (see
:class:`pace_linkage.config.FieldSpec`), not the field name. The ``reasons`` frame returned by
:func:`pace_linkage.normalise.normalise_records` carries the field name alongside.
"""

from __future__ import annotations

REASONS: dict[str, str] = {
    # National Insurance number
    "nino_invalid": "not two letters + six digits + optional A-D suffix, or a letter HMRC never uses "
    "(first D F I Q U V; second D F I O Q U V)",
    "nino_unallocated_prefix": "prefix BG, GB, KN, NK, NT or ZZ: never allocated",
    "nino_administrative": "administrative prefix OO, CR, FY, MW, NC, PP, PY or PZ: not a person's number",
    "nino_temporary": "TN-prefixed temporary reference (e.g. TN + date of birth + M/F)",
    "nino_placeholder": "dummy value: XX or QQ prefix, or all six digits the same (AA000000A)",
    # Postcode
    "postcode_invalid": "not a UK postcode (A9, A99, A9A, AA9, AA99, AA9A + 9AA) even after <= 2 OCR repairs",
    "postcode_placeholder": "a configured placeholder value",
    # Postal code of any country (postal_code kind)
    "postal_code_invalid": "not 2-10 letters and digits with a digit, once blanks and punctuation are dropped",
    "postal_code_placeholder": "N/A, UNKNOWN, NONE and the like, zeros only, or a configured placeholder",
    # Dates
    "dob_unparseable": "no supported date format matched (no format configured)",
    "dob_wrong_format": "does not match the configured date format (never re-read with another)",
    "dob_placeholder": "01/01/1900 or a configured placeholder date",
    "dob_future": "after the run date (allow_future: true keeps it)",
    "dob_before_earliest": "before the field's earliest date (setting earliest, default 1900-01-01)",
    "dob_implausible_age": "age under min_age (default 14) or over max_age (default 110) on the run date",
    "date_unparseable": "no supported date format matched (no format configured)",
    "date_wrong_format": "does not match the configured date format (never re-read with another)",
    "date_placeholder": "01/01/1900 or a configured placeholder date",
    "date_future": "after the run date, on a field with allow_future: false",
    "date_before_earliest": "before the field's earliest date (setting earliest, default 1900-01-01)",
    # Names
    "name_placeholder": "UNKNOWN, NOT KNOWN, N/A, NULL, NA, XXX, '-', '?' and the like",
    "name_invalid": "no Latin letter left after folding (digits only, other scripts)",
    # Sex
    "sex_not_stated": "explicitly unknown / not stated / prefer not to say (ISO 5218 codes 0 and 9)",
    "sex_unknown_code": "a code this normaliser does not recognise",
    "sex_placeholder": "a configured placeholder value",
    # Contact details
    "phone_invalid": "not a UK number (10 digits after the leading 0 / +44) or a valid international number",
    "phone_placeholder": "all digits the same (e.g. 07000 000000) or a configured placeholder",
    "email_invalid": "not local@domain.tld in ASCII",
    "email_placeholder": "no-email style dummy (noemail@, none@, test@test.com, example.com ...)",
    # Free text and identifiers
    "text_placeholder": "N/A, UNKNOWN, NONE and the like, or a configured placeholder",
    "text_invalid": "nothing but punctuation",
    "id_placeholder": "a configured placeholder value",
    # Organisations
    "org_name_placeholder": "N/A, UNKNOWN, NONE and the like, or a configured placeholder",
    "org_name_invalid": "nothing but punctuation",
    "company_number_invalid": "not 8 digits, or 2 letters + up to 6 digits, or R + 7 digits",
    "company_number_prefix": "a 2-letter prefix Companies House does not use",
    "company_number_placeholder": "all digits zero, or a configured placeholder",
}

NINO_INVALID = "nino_invalid"
NINO_UNALLOCATED_PREFIX = "nino_unallocated_prefix"
NINO_ADMINISTRATIVE = "nino_administrative"
NINO_TEMPORARY = "nino_temporary"
NINO_PLACEHOLDER = "nino_placeholder"
POSTCODE_INVALID = "postcode_invalid"
POSTAL_CODE_INVALID = "postal_code_invalid"
POSTAL_CODE_PLACEHOLDER = "postal_code_placeholder"
NAME_PLACEHOLDER = "name_placeholder"
NAME_INVALID = "name_invalid"
SEX_NOT_STATED = "sex_not_stated"
SEX_UNKNOWN_CODE = "sex_unknown_code"
PHONE_INVALID = "phone_invalid"
PHONE_PLACEHOLDER = "phone_placeholder"
EMAIL_INVALID = "email_invalid"
EMAIL_PLACEHOLDER = "email_placeholder"
TEXT_PLACEHOLDER = "text_placeholder"
TEXT_INVALID = "text_invalid"
ORG_NAME_PLACEHOLDER = "org_name_placeholder"
ORG_NAME_INVALID = "org_name_invalid"
COMPANY_NUMBER_INVALID = "company_number_invalid"
COMPANY_NUMBER_PREFIX = "company_number_prefix"
COMPANY_NUMBER_PLACEHOLDER = "company_number_placeholder"

CODES: tuple[str, ...] = tuple(sorted(REASONS))


def placeholder_code(kind: str) -> str:
    """The reason code for a configured placeholder of a field of ``kind``."""
    return f"{kind}_placeholder"
