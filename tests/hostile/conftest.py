"""Small hostile fixtures, built in code: a three-partner extract set full of bad rows, its config and truth.

The people are generated deterministically from their index (no randomness, no faker), so every test
knows exactly which rows are good and which bad. Names and ids deliberately start with spreadsheet
formula prefixes (``=``, ``+``, ``-``, ``@``) so that every CSV the pipeline writes can be scanned for
unneutralised formulas.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from pace_linkage.config import SourceConfig

# A canary person: their raw values must never appear in an error message or on stderr.
CANARY_NINO = "JG103759A"
CANARY_DOB = "31/02/1983"  # not a date
CANARY_SURNAME = "Quigglesworth"
CANARY_INT = "12x7"

FIRST = ["Ann", "Robert", "Morag", "Iain", "Fiona", "Callum", "Kirsty", "Ewan", "Shona", "Duncan"]
SURNAMES = ["MacDonald", "Campbell", "O'Neill", "Stewart", "Robertson", "Fraser", "Murray", "Reid", "Ross", "Kerr",
            "Grant", "Hamilton"]
INWARD_LETTERS = "ABDEFGHJLNPQRSTUWXYZ"
FORMULA_STARTS = ("=", "+", "-", "@")


def write_bytes(path: Path, data: bytes | str, encoding: str = "utf-8") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode(encoding) if isinstance(data, str) else data)
    return path


def source(**kw) -> SourceConfig:
    """A one-file source config; defaults: p.csv, record id ``id``, surname from ``surname``."""
    base = dict(name="p", file="p.csv", record_id="id", columns={"surname": "surname"})
    base.update(kw)
    return SourceConfig(**base)


def person(i: int) -> dict[str, str]:
    """Person ``i`` (0-based): valid, distinct NINO, plausible DOB and postcode."""
    digits = f"{104729 + i * 7919:06d}"[-6:]
    return {
        "nino": f"{'JKLMNPRSTW'[i % 10]}{'ABCEGHJ'[i % 7]}{digits}{'ABCD'[i % 4]}",
        "first": FIRST[i % len(FIRST)],
        "surname": SURNAMES[(i * 5) % len(SURNAMES)] + ("" if i < len(SURNAMES) else f"{chr(65 + i % 26)}son"),
        "dob": f"{1960 + i % 40}-{1 + i % 12:02d}-{1 + (i * 3) % 28:02d}",
        "postcode": f"EH{1 + i % 17} {i % 10}{INWARD_LETTERS[i % 20]}{INWARD_LETTERS[(i * 7) % 20]}",
        "phone": f"0131 496 {i:04d}",
    }


def csv_text(rows: list[list[str]], delimiter: str = ",") -> str:
    out = io.StringIO()
    csv.writer(out, delimiter=delimiter, lineterminator="\n").writerows(rows)
    return out.getvalue()


PEOPLE = 24
ALPHA_HEADER = ["id", "nino", "first", "surname", "dob", "postcode", "phone"]

# The bad rows of alpha.csv: (raw line(s), the reason codes the row must get). Every kind of bad row the
# pipeline knows, at least ten, plus formula prefixes in ids and names.
ALPHA_BAD: list[tuple[bytes, set[str]]] = [
    (b"2,Jones\n", {"too_few_fields"}),
    (b"=cmd|' /C calc'!A0,JG000001A,Ann,Extra,1980-01-01,EH1 1AB,0131,spill\n", {"too_many_fields"}),
    (b"x3,JG000002A,M\xe9nard,Smith,1980-01-01,EH1 1AB,0131\n", {"bad_encoding"}),
    (b'x4,JG000003A,"Sm"ith,Smith,1980-01-01,EH1 1AB,0131\n', {"malformed_csv"}),
    (b"x5,JG000004A,Ann,Sm\x00ith,1980-01-01,EH1 1AB,0131\n", {"nul_byte"}),
    (b"x6,JG000005A,Ann," + b"Z" * 1_000_000 + b",1980-01-01,EH1 1AB,0131\n", {"field_too_long"}),
    (b",JG000006A,Ann,Smith,1980-01-01,EH1 1AB,0131\n", {"missing_record_id"}),
    (b"x8,JG000007A,Ann,Smith,1980-01-01,EH1 1AB,0131\n", {"duplicate_record_id"}),
    (b"x8,JG000008A,Bob,Brown,1981-02-02,EH2 2AB,0132\n", {"duplicate_record_id"}),
    (b"@x9,N/A,Ann,NULL,1900-01-01,ZZZ,\n", {"no_identifying_fields"}),
    (b"-x10,OO123456A,-,N/A,01/01/1900,n/a,\n", {"no_identifying_fields"}),
]


def alpha_csv() -> bytes:
    """alpha.csv: UTF-8 with a BOM, CRLF-free, quoted newlines, blank lines, 24 good people + 11 bad rows."""
    rows = [ALPHA_HEADER]
    for i in range(PEOPLE):
        p = person(i)
        rid = {0: "=1+1", 1: "+441314960000", 2: "-7", 3: "@SUM(A1)"}.get(i, f"A{i:03d}")
        first = {4: "=HYPERLINK(\"http://x\")", 5: "@Morag"}.get(i, p["first"])
        surname = p["surname"] if i != 6 else "Mac\nDonald"  # a quoted newline inside a field
        rows.append([rid, p["nino"], first, surname, p["dob"], p["postcode"], p["phone"]])
    rows.append(["A099", person(0)["nino"], "Ann", "NULL", "", "", "007"])  # surname NULL stays text
    good = csv_text(rows).encode("utf-8")
    repeat = csv_text([rows[8]]).encode("utf-8")  # an exact repeat of person 7's row: duplicate_row
    bad = b"".join(line for line, _ in ALPHA_BAD)
    return b"\xef\xbb\xbf" + good + b"\n" + repeat + bad + b"\n"


def beta_jsonl() -> bytes:
    """beta.jsonl: no BOM; persons 0-15 again with other ids (leading zeros) and formats, plus bad lines."""
    lines = []
    for i in range(16):
        p = person(i)
        d = p["dob"].split("-")
        rid = "+0001" if i == 0 else f"{i:04d}"
        lines.append(json.dumps({"ref": rid, "ni": p["nino"].lower(), "forename": p["first"].upper(),
                                 "surname": p["surname"].replace("\n", " "), "birth": f"{d[2]}/{d[1]}/{d[0]}",
                                 "pc": p["postcode"].replace(" ", "").lower()}))
    lines += ['{"ref": "0099", "ni": null', "[1, 2, 3]", json.dumps({"ref": "0098", "surname": "A\x00B"})]
    return ("\n".join(lines) + "\n").encode("utf-8")


def gamma_csv() -> bytes:
    """gamma.csv: cp1252, ';'-delimited, persons 8-23 with curly apostrophes and a header-less twin."""
    rows = [["Ref", "NI", "Given", "Family", "Born", "Post"]]
    for i in range(8, PEOPLE):
        p = person(i)
        rows.append([f"G{i:02d}", p["nino"], p["first"], p["surname"].replace("'", "’").replace("\n", ""),
                     p["dob"], p["postcode"]])
    rows.append(["G99", "", "Ann", "Smith", "1980-01-01", "EH1 1AB", "extra"])  # too many fields
    return csv_text(rows, ";").encode("cp1252")


CONFIG = """
seed: 7
reference_date: 2025-03-31
fields:
  nino: {kind: nino}
  first_name: {kind: name}
  surname: {kind: name}
  dob: {kind: dob, placeholders: ["1900-01-01"]}
  postcode: {kind: postcode}
  phone: {kind: phone}
identifying_fields: [nino, surname, dob, postcode]
sources:
  items:
    - name: alpha
      file: alpha.csv
      encoding: utf-8
      on_bad_encoding: quarantine
      record_id: id
      columns: {nino: nino, first_name: first, surname: surname, dob: dob, postcode: postcode, phone: phone}
    - name: beta
      file: beta.jsonl
      format: jsonl
      record_id: ref
      columns: {nino: ni, first_name: forename, surname: surname, dob: birth, postcode: pc}
      formats: {dob: "%d/%m/%Y"}
    - name: gamma
      file: gamma.csv
      encoding: cp1252
      delimiter: ";"
      record_id: Ref
      columns: {nino: NI, first_name: Given, surname: Family, dob: Born, postcode: Post}
linkage:
  blocking:
    - {name: nino, on: [nino]}
    - {name: dob_surname, on: [dob, surname_sound]}
    - {name: postcode, on: [postcode]}
  comparisons:
    - name: nino
      column: nino
      levels: [{type: exact}]
    - name: first_name
      column: first_name
      levels: [{type: exact}, {type: jaro_winkler, threshold: 0.88}]
    - name: surname
      column: surname
      levels: [{type: exact}, {type: jaro_winkler, threshold: 0.88}]
    - name: dob
      column: dob
      levels: [{type: exact}]
    - name: postcode
      column: postcode
      levels: [{type: exact}, {type: exact, column: postcode_district}]
  em: {u_sample_pairs: 1000}
  threshold: 0.9
  clustering: {conflict_fields: [nino]}
"""


def truth_csv() -> str:
    rows = [["source", "record_id", "person_id"]]
    for i in range(PEOPLE):
        rid = {0: "=1+1", 1: "+441314960000", 2: "-7", 3: "@SUM(A1)"}.get(i, f"A{i:03d}")
        rows.append(["alpha", rid, f"P{i:03d}"])
    rows.append(["alpha", "A099", "P000"])
    for i in range(16):
        rows.append(["beta", "+0001" if i == 0 else f"{i:04d}", f"P{i:03d}"])
    for i in range(8, PEOPLE):
        rows.append(["gamma", f"G{i:02d}", f"P{i:03d}"])
    return csv_text(rows)


def build_hostile(root: Path) -> dict[str, Path]:
    """Write the hostile extract set, its config and truth under ``root``; returns their paths."""
    extracts = root / "extracts"
    write_bytes(extracts / "alpha.csv", alpha_csv())
    write_bytes(extracts / "beta.jsonl", beta_jsonl())
    write_bytes(extracts / "gamma.csv", gamma_csv())
    return {"extracts": extracts, "config": write_bytes(root / "pace.yaml", CONFIG),
            "truth": write_bytes(root / "truth.csv", b"\xef\xbb\xbf" + truth_csv().encode())}


@pytest.fixture(scope="session")
def hostile(tmp_path_factory) -> dict[str, Path]:
    """The hostile extract set (see :func:`build_hostile`), written once per session."""
    return build_hostile(tmp_path_factory.mktemp("hostile"))


@pytest.fixture(scope="session")
def hostile_run(prefect_harness, hostile, tmp_path_factory):
    """One run of the Prefect flow on the hostile set, with truth: (OUT folder, the flow's return value)."""
    from flows.pipeline import pace_linkage_pipeline

    out = tmp_path_factory.mktemp("hostile_out")
    result = pace_linkage_pipeline(extracts=str(hostile["extracts"]), out=str(out), config=str(hostile["config"]),
                                   truth=str(hostile["truth"]), run_id="hostile")
    return out, result
