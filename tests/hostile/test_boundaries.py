"""Identifiers, paths and values from users stay inside their bounds, and ordinary mistakes fail first, in one line.

- A run id is a safe token: a path separator or ``..`` is refused by the command before anything is written, by
  the flows' parameter models (a deployment's parameters never pass through the command) and by the writer that
  makes ``OUT/.staging-<run id>``.
- A partner's file resolves inside its extracts folder: ``..``, an absolute path and a symbolic link out of the
  folder are refused (a link inside the folder to a file inside it is read).
- No field value in an error message: a repeated header name in a file without a header row is named by its
  columns.
- A store URL carries no password in any spelling libpq reads one from (user info, a query parameter, encoded or
  not, in any case), nor a parameter naming where one is read from.
- Config values that would pass validation and then break a run are refused on load, one line naming the file and
  the dotted key.
- A missing extracts folder, a missing file, a misspelt column and a truth file of other extracts fail before
  Prefect starts (all at once, one line each); a truth file sharing no record with the run stops it before
  linking; reading a store that does not exist creates nothing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from pydantic import ValidationError

from pace_linkage.config import SourceConfig, load_config
from pace_linkage.errors import ConfigError, InputError
from pace_linkage.ingest.extract import read_source, resolve_file
from pace_linkage.ingest.preflight import check_inputs, source_problems
from pace_linkage.pipeline import DEFAULT_FEATURES
from pace_linkage.schema import is_run_id

from .conftest import CANARY_NINO, CANARY_SURNAME, CONFIG, source, write_bytes

ROOT = Path(__file__).resolve().parents[2]
SECRET = "s3cr3t-Pa55"


def cli(*args: str, cwd: Path = ROOT, home: Path | None = None, timeout: int = 120) -> subprocess.CompletedProcess:
    """``python -m flows ARGS`` in a subprocess with this tree's packages first and its own PREFECT_HOME."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    if home is not None:
        env["PREFECT_HOME"] = str(home)
    return subprocess.run([sys.executable, "-m", "flows", *args], capture_output=True, text=True, timeout=timeout,
                          cwd=cwd, env=env)


def error_lines(res: subprocess.CompletedProcess) -> list[str]:
    assert "Traceback" not in res.stderr, res.stderr
    return [ln for ln in res.stderr.splitlines() if ln.strip()]


def no_prefect_started(home: Path) -> bool:
    """Prefect makes its database in PREFECT_HOME on its first start: an empty home means it never started."""
    return not home.exists() or not any(home.iterdir())


# --------------------------------------------------------------------------------------------------
# Run ids
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("run_id", ["x/../../victim", "../victim", "..", "a..b", ".staging", "-rf", "a/b", "a\\b",
                                    "", "a b", "a\nb", "é", "x" * 129, "/abs", "a\x00b"])
def test_an_unsafe_run_id_is_refused(run_id):
    assert not is_run_id(run_id)


@pytest.mark.parametrize("run_id", ["first", "2025-03_delivery.1", "0" * 128, "a3f9c2d1e4b5a6978877665544332211"])
def test_a_safe_run_id_is_accepted(run_id):
    assert is_run_id(run_id)


def test_the_command_refuses_a_run_id_with_a_path_before_anything_is_written(hostile, tmp_path):
    victim = tmp_path / "victim"
    write_bytes(victim / "keep.txt", "keep")
    mode = tmp_path.stat().st_mode
    out = tmp_path / "work" / "out"
    home = tmp_path / "prefect_home"
    res = cli("run", "--extracts", str(hostile["extracts"]), "--config", str(hostile["config"]), "--out", str(out),
              "--run-id", "x/../../../victim", home=home)
    lines = error_lines(res)
    assert res.returncode == ConfigError.exit_code and len(lines) == 1 and lines[0].startswith("error: --run-id:")
    assert (victim / "keep.txt").read_text() == "keep" and tmp_path.stat().st_mode == mode
    assert not (tmp_path / "work").exists() and no_prefect_started(home)


@pytest.mark.parametrize("args", [
    ["scenarios", "--only", "full", "--ephemeral-key", "--run-id", "r" * 65],
    ["scenarios", "--only", "full", "--ephemeral-key", "--run-id", "x/../victim"],
    ["employers", "--people", "p", "--employers", "e", "--run-id", "../victim"],
])
def test_the_other_commands_refuse_an_unsafe_run_id_before_anything_is_written(hostile, tmp_path, args):
    home = tmp_path / "prefect_home"
    res = cli(*args, "--extracts", str(hostile["extracts"]), "--truth", str(hostile["truth"]),
              "--out", str(tmp_path / "out"), home=home) if args[0] == "scenarios" else cli(
        *args, "--extracts", str(hostile["extracts"]), "--out", str(tmp_path / "out"), home=home)
    lines = error_lines(res)  # (scenarios: the default partners' files are missing from this folder too)
    assert res.returncode == ConfigError.exit_code and lines[0].startswith("error: --run-id:")
    assert not (tmp_path / "out").exists() and no_prefect_started(home)


def test_the_flows_parameter_models_refuse_an_unsafe_run_id():
    from flows.params import validated
    from flows.pipeline import RunParams
    from flows.scenarios import ScenariosParams

    with pytest.raises(ValidationError):
        RunParams(extracts="e", out="o", run_id="x/../../victim")
    with pytest.raises(ConfigError) as info:
        validated(RunParams, extracts="e", out="o", run_id="x/../../victim")
    assert str(info.value).startswith("parameter run_id: ") and "victim" not in str(info.value)
    # a scenario's run id is <run id>-<scenario>: the scenarios flow leaves room for the longest scenario name
    assert RunParams(extracts="e", out="o", run_id="r" * 64 + "-" + "s" * 63).run_id
    with pytest.raises(ValidationError):
        ScenariosParams(extracts="e", truth="t", out="o", run_id="r" * 65)
    with pytest.raises(ValidationError):
        ScenariosParams(extracts="e", truth="t", out="o", run_id="../x")


def test_the_pipeline_flow_refuses_an_unsafe_run_id_before_writing(prefect_harness, hostile, tmp_path):
    from flows.pipeline import pace_linkage_pipeline

    with pytest.raises(ConfigError, match="parameter run_id"):
        pace_linkage_pipeline(extracts=str(hostile["extracts"]), out=str(tmp_path / "out"),
                              config=str(hostile["config"]), run_id="x/../../victim")
    assert not (tmp_path / "out").exists()


def test_the_run_writer_refuses_an_unsafe_run_id_and_makes_nothing(tmp_path):
    from pace_linkage.store.outputs import RunWriter

    with pytest.raises(ConfigError, match="run id"):
        RunWriter(tmp_path / "out", "../victim")
    assert not (tmp_path / "out").exists()
    writer = RunWriter(tmp_path / "out", "a-b.c_d")
    assert writer.staging.parent == tmp_path / "out"
    writer.close()


# --------------------------------------------------------------------------------------------------
# A partner's file stays inside its extracts folder
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("pattern", ["../../../../etc/passwd", "/etc/passwd", "sub/../../x.csv", "..\\x.csv",
                                     "C:\\x.csv", ""])
def test_a_file_pattern_outside_the_folder_is_a_config_error(pattern):
    with pytest.raises(ValidationError) as info:
        source(file=pattern)
    assert info.value.errors()[0]["loc"] == ("file",)


def test_a_traversing_file_is_refused_on_load_naming_the_file_and_key(tmp_path):
    cfg = write_bytes(tmp_path / "pace.yaml", CONFIG.replace("file: beta.jsonl", "file: ../../../../etc/passwd"))
    with pytest.raises(ConfigError) as info:
        load_config(cfg)
    assert str(info.value) == f"{cfg}: sources.items.1.file: Value error, must not leave the extracts folder (no '..' part)"


def foreign(tmp_path: Path) -> Path:
    """A file outside the extracts folder whose header line is a secret."""
    return write_bytes(tmp_path / "elsewhere" / "secret.csv", f"{SECRET},{CANARY_SURNAME}\n1,2\n")


def test_a_symbolic_link_out_of_the_folder_is_refused_and_its_file_never_quoted(tmp_path):
    ext = tmp_path / "extracts"
    ext.mkdir()
    (ext / "p.csv").symlink_to(foreign(tmp_path))
    src = source()
    with pytest.raises(InputError) as info:
        read_source(src, ext)
    message = str(info.value)
    assert "symbolic link out of the extracts folder" in message and SECRET not in message
    assert "elsewhere" not in message and "\n" not in message


def test_a_link_to_a_folder_outside_and_a_pattern_through_it_are_refused(tmp_path):
    ext = tmp_path / "extracts"
    ext.mkdir()
    foreign(tmp_path)
    (ext / "sub").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    with pytest.raises(InputError, match="symbolic link out of the extracts folder"):
        resolve_file(source(file="sub/*.csv"), ext)


def test_a_bypassed_config_check_is_still_refused_where_the_file_is_resolved(tmp_path):
    ext = tmp_path / "extracts"
    ext.mkdir()
    foreign(tmp_path)
    for pattern in ("../elsewhere/secret.csv", str(tmp_path / "elsewhere" / "secret.csv")):
        src = SourceConfig.model_construct(**{**source().__dict__, "file": pattern})
        with pytest.raises(InputError, match="must"):
            resolve_file(src, ext)


def test_a_link_inside_the_folder_to_a_file_inside_it_is_read(tmp_path):
    ext = tmp_path / "extracts"
    write_bytes(ext / "archive" / "p_2025.csv", "id,surname\n1,Smith\n")
    (ext / "p.csv").symlink_to(Path("archive") / "p_2025.csv")
    assert read_source(source(), ext).frame["surname"].tolist() == ["Smith"]


def test_a_broken_link_is_one_line(tmp_path):
    ext = tmp_path / "extracts"
    ext.mkdir()
    (ext / "p.csv").symlink_to(tmp_path / "gone.csv")
    with pytest.raises(InputError, match="broken or looping symbolic link"):
        resolve_file(source(), ext)


# --------------------------------------------------------------------------------------------------
# No field value in a header message
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("first_line", [f"A001,{CANARY_SURNAME},{CANARY_SURNAME},1983-02-11",
                                        f"{CANARY_SURNAME},{CANARY_SURNAME}"])
def test_a_value_repeated_in_a_headerless_first_line_is_never_quoted(tmp_path, first_line):
    write_bytes(tmp_path / "p.csv", f"{first_line}\nA002,Ann,Ann,1990-01-01\n")
    with pytest.raises(InputError) as info:
        read_source(source(), tmp_path)
    assert CANARY_SURNAME not in str(info.value)
    assert "column 3: header name repeats column 2" in str(info.value) or "column 2: header name repeats column 1" in str(info.value)


def test_a_value_repeated_in_a_headerless_sheet_is_never_quoted(tmp_path):
    from openpyxl import Workbook

    wb = Workbook()
    wb.active.append([CANARY_NINO, CANARY_SURNAME, CANARY_SURNAME])
    wb.save(tmp_path / "p.xlsx")
    with pytest.raises(InputError) as info:
        read_source(source(file="p.xlsx", format="xlsx"), tmp_path)
    assert CANARY_SURNAME not in str(info.value) and CANARY_NINO not in str(info.value)
    assert "column 3: header name repeats column 2" in str(info.value)


# --------------------------------------------------------------------------------------------------
# Store URLs carry no password
# --------------------------------------------------------------------------------------------------
SMUGGLED = [
    f"postgresql://pace:{SECRET}@localhost/pace",
    "postgresql://pace:@localhost/pace",
    f"postgresql://pace@evil:{SECRET}@localhost/pace",
    f"postgresql://pace@localhost/pace?password={SECRET}",
    f"postgresql://pace@localhost/pace?pass%77ord={SECRET}",
    f"postgresql://pace@localhost/pace?%70%61%73%73%77%6f%72%64={SECRET}",
    f"postgresql://pace@localhost/pace?PassWord={SECRET}",
    f"postgresql://pace@localhost/pace?sslmode=require&password={SECRET}",
    f"postgres://pace@localhost/pace?passfile=/tmp/{SECRET}",
    f"postgresql://pace@localhost/pace?service={SECRET}",
    f"postgresql://pace@localhost/pace?sslpassword={SECRET}",
    f"postgresql://pace@localhost/pace?oauth_client_secret={SECRET}",
    f"postgresql://pace@localhost/pace?unknown_setting={SECRET}",
    f"postgresql://pace@localhost/dbname%3D{SECRET}",
    f"host=localhost password={SECRET}",
]


@pytest.mark.parametrize("url", SMUGGLED)
def test_a_password_in_any_spelling_of_the_store_url_is_refused(url):
    from pace_linkage.store.database import parse_url

    with pytest.raises(ConfigError) as info:
        parse_url(url)
    assert SECRET not in str(info.value) and "\n" not in str(info.value)


def test_every_query_spelling_refused_is_one_libpq_reads_as_a_password():
    from psycopg.conninfo import conninfo_to_dict

    for url in SMUGGLED[3:7]:
        if "PassWord" not in url:
            assert conninfo_to_dict(url)["password"] == SECRET  # what the URL would have given libpq


@pytest.mark.parametrize("url", ["postgresql://pace@localhost:5432/pace",
                                 "postgresql://pace@db/pace?sslmode=verify-full&sslrootcert=/etc/ca.pem",
                                 "postgresql://pace@h1:5432,h2:5433/pace?target_session_attrs=read-write",
                                 "postgresql:///pace?host=/var/run/postgresql&application_name=pace&connect_timeout=5",
                                 "postgresql://pace@[::1]/pace?options=-c%20statement_timeout%3D0"])
def test_a_store_url_without_a_password_is_accepted_and_described_without_its_query(url):
    from pace_linkage.store.database import describe, parse_url

    assert parse_url(url) == ("postgresql", url)
    assert "?" not in describe(url)


def test_the_flow_parameters_refuse_a_smuggled_password():
    from flows.params import validated
    from flows.pipeline import RunParams

    with pytest.raises(ConfigError) as info:
        validated(RunParams, extracts="e", out="o", store=SMUGGLED[4])
    assert str(info.value).startswith("parameter store: Value error, a password in the URL is refused")
    assert SECRET not in str(info.value)
    assert RunParams(extracts="e", out="o", store="postgresql://pace@db/pace?sslmode=require").store


def test_the_command_refuses_a_smuggled_password_before_prefect_starts(hostile, tmp_path):
    home = tmp_path / "prefect_home"
    res = cli("run", "--extracts", str(hostile["extracts"]), "--config", str(hostile["config"]),
              "--out", str(tmp_path / "out"), "--store", f"postgresql://pace@localhost/pace?pass%77ord={SECRET}",
              home=home)
    lines = error_lines(res)
    assert res.returncode == ConfigError.exit_code and len(lines) == 1 and "password in the URL is refused" in lines[0]
    assert SECRET not in res.stderr + res.stdout and no_prefect_started(home) and not (tmp_path / "out").exists()


# --------------------------------------------------------------------------------------------------
# Config values that would break a run
# --------------------------------------------------------------------------------------------------
BAD_VALUES = {
    "a 100,000-character date format": (
        'formats: {dob: "%d/%m/%Y"}', 'formats: {dob: "' + "%d" * 50_000 + '"}', "sources.items.1.formats.dob"),
    "a date format without a directive": ('formats: {dob: "%d/%m/%Y"}', 'formats: {dob: "dd/mm/yyyy"}',
                                          "sources.items.1.formats.dob"),
    "a bad directive": ('formats: {dob: "%d/%m/%Y"}', 'formats: {dob: "%d/%m/%Q"}', "sources.items.1.formats.dob"),
    "u_sample_pairs of 10^12": ("em: {u_sample_pairs: 1000}", "em: {u_sample_pairs: 1000000000000}",
                                "linkage.em.u_sample_pairs"),
    "a negative seed": ("seed: 7", "seed: -1", "seed"),
    "a seed past 2^32": ("seed: 7", "seed: 4294967296", "seed"),
    "a named threshold of NaN": ("  threshold: 0.9\n", "  threshold: 0.9\n  named_thresholds: {strict: .nan}\n",
                                 "linkage.named_thresholds.strict"),
    "a named threshold of 5": ("  threshold: 0.9\n", "  threshold: 0.9\n  named_thresholds: {strict: 5.0}\n",
                               "linkage.named_thresholds.strict"),
    "a named threshold of -1": ("  threshold: 0.9\n", "  threshold: 0.9\n  named_thresholds: {loose: -1}\n",
                                "linkage.named_thresholds.loose"),
    "a named threshold of 1": ("  threshold: 0.9\n", "  threshold: 0.9\n  named_thresholds: {loose: 1}\n",
                               "linkage.named_thresholds.loose"),
    "a threshold of infinity": ("  threshold: 0.9\n", "  threshold: .inf\n", "linkage.threshold"),
    "an EM tolerance of NaN": ("em: {u_sample_pairs: 1000}", "em: {u_sample_pairs: 1000, tolerance: .nan}",
                               "linkage.em.tolerance"),
    "max_iterations of 10^9": ("em: {u_sample_pairs: 1000}", "em: {u_sample_pairs: 1000, max_iterations: 1000000000}",
                               "linkage.em.max_iterations"),
    "a window of 10^9": ("{name: postcode, on: [postcode]}", "{name: postcode, on: [postcode], window: 1000000000}",
                         "linkage.blocking.2.window"),
    "a negative conflict tolerance": ("clustering: {conflict_fields: [nino]}",
                                      "clustering: {conflict_fields: [nino], conflict_tolerance: {nino: -1}}",
                                      "linkage.clustering.conflict_tolerance.nino"),
    "max_cluster_size of 10^12": ("clustering: {conflict_fields: [nino]}",
                                  "clustering: {conflict_fields: [nino], max_cluster_size: 1000000000000}",
                                  "linkage.clustering.max_cluster_size"),
    "a level threshold of NaN": ("{type: jaro_winkler, threshold: 0.88}]\n    - name: surname",
                                 "{type: jaro_winkler, threshold: .nan}]\n    - name: surname",
                                 "linkage.comparisons.1.levels.1.threshold"),
    "a similarity threshold of 1.5": ("{type: jaro_winkler, threshold: 0.88}]\n    - name: surname",
                                      "{type: jaro_winkler, threshold: 1.5}]\n    - name: surname",
                                      "linkage.comparisons.1.levels.1.threshold"),
    "a small-count threshold of 10^9": ("  clustering: {conflict_fields: [nino]}\n",
                                        "  clustering: {conflict_fields: [nino]}\nreport: {small_count_threshold: 1000000000}\n",
                                        "report.small_count_threshold"),
}


@pytest.mark.parametrize("case", sorted(BAD_VALUES))
def test_a_config_value_that_would_break_a_run_is_refused_on_load(tmp_path, case):
    old, new, key = BAD_VALUES[case]
    assert old in CONFIG
    cfg = write_bytes(tmp_path / "pace.yaml", CONFIG.replace(old, new, 1))
    t0 = time.perf_counter()
    with pytest.raises(ConfigError) as info:
        load_config(cfg)
    assert time.perf_counter() - t0 < 2
    lines = str(info.value).splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{cfg}: {key}: "), lines
    assert len(lines[0]) < 300


def test_the_shipped_configs_still_load():
    for path in [*sorted((ROOT / "config").glob("*.yaml")), *sorted((ROOT / "config" / "examples").glob("*.yaml"))]:
        if path.name in {"pace.yaml", "employer.yaml"} or path.parent.name == "examples":
            load_config(path)


# --------------------------------------------------------------------------------------------------
# Ordinary mistakes fail first, with their cause
# --------------------------------------------------------------------------------------------------
def test_a_wrong_extracts_folder_fails_in_a_second_or_two_before_prefect_starts(hostile, tmp_path):
    home = tmp_path / "prefect_home"
    t0 = time.perf_counter()
    res = cli("run", "--extracts", str(tmp_path / "nope"), "--config", str(hostile["config"]),
              "--out", str(tmp_path / "out"), home=home)
    seconds = time.perf_counter() - t0
    lines = error_lines(res)
    assert res.returncode == InputError.exit_code, res.stderr
    assert lines == [f"error: {tmp_path / 'nope'}: extracts folder not found (--extracts names the folder holding "
                     "the partner extracts)"]
    assert no_prefect_started(home) and not (tmp_path / "out").exists()
    assert seconds < 10, seconds  # about 1 s on an idle machine: the command's imports and the config


def copy_extracts(hostile, tmp_path: Path) -> Path:
    ext = tmp_path / "extracts"
    shutil.copytree(hostile["extracts"], ext)
    return ext


def test_every_missing_file_and_column_is_one_line_all_at_once(hostile, tmp_path):
    ext = copy_extracts(hostile, tmp_path)
    (ext / "beta.jsonl").unlink()
    text = CONFIG.replace("first_name: Given, surname: Family", "first_name: Givn, surname: Family")
    text = text.replace("record_id: id\n", "record_id: ID\n")
    cfg = load_config(write_bytes(tmp_path / "pace.yaml", text))
    stops, warnings = check_inputs(cfg, ext, DEFAULT_FEATURES)
    where = tmp_path / "pace.yaml"
    assert warnings == [] and stops == [
        f"{where}: record_id: column 'ID' not found in alpha.csv -- did you mean 'id'? (have: id, nino, first, "
        "surname, dob, postcode, phone)",
        f"{ext / 'beta.jsonl'}: source 'beta': no such file",
        f"{where}: columns.first_name: column 'Givn' not found in gamma.csv -- did you mean 'Given'? (have: Ref, NI, "
        "Given, Family, Born, Post)",
    ]


def test_a_source_that_may_be_missing_is_a_warning_not_a_stop(hostile, tmp_path):
    ext = copy_extracts(hostile, tmp_path)
    (ext / "gamma.csv").unlink()
    cfg = load_config(hostile["config"])
    assert check_inputs(cfg, ext, DEFAULT_FEATURES, allow_partial=True) == ([], [
        f"{ext / 'gamma.csv'}: source 'gamma': no such file"])
    for src in cfg.sources.items:
        src.required = src.name != "gamma"
    assert check_inputs(cfg, ext, DEFAULT_FEATURES)[0] == []
    for name in ("alpha.csv", "beta.jsonl"):  # no source left: nothing to link, the problems stop the run
        (ext / name).unlink()
    assert len(check_inputs(cfg, ext, DEFAULT_FEATURES, allow_partial=True)[0]) == 3


def test_the_header_check_reads_the_header_only_and_judges_each_format(tmp_path):
    from openpyxl import Workbook

    write_bytes(tmp_path / "p.jsonl", '{"id": "1"}\n{"id": "2", "surname": "late key"}\n')
    assert source_problems(source(file="p.jsonl", format="jsonl"), tmp_path) == []  # a key first seen later counts
    write_bytes(tmp_path / "q.jsonl", '{"id": "1"}\n')
    assert "column 'surname' not found in q.jsonl" in source_problems(source(file="q.jsonl", format="jsonl"),
                                                                      tmp_path)[0]
    write_bytes(tmp_path / "e.jsonl", "")
    assert source_problems(source(file="e.jsonl", format="jsonl", allow_empty=True), tmp_path) == []
    wb = Workbook()
    wb.active.append(["id", None, "Surname "])
    wb.save(tmp_path / "p.xlsx")
    assert source_problems(source(file="p.xlsx", format="xlsx", columns={"surname": "Surname"}), tmp_path) == []
    write_bytes(tmp_path / "p.csv", "\ufeffid;Surname\r\n1;x\n")
    assert source_problems(source(delimiter=";", columns={"surname": "Surname"}), tmp_path) == []
    write_bytes(tmp_path / "c.csv", "id,Pr\u00e9nom\n".encode("cp1252"))
    assert source_problems(source(file="c.csv", encoding="cp1252", columns={"first": "Pr\u00e9nom"}), tmp_path) == []
    write_bytes(tmp_path / "u.csv", b"\xef\xbb\xbfid,surname\n")  # utf-8 declared cp1252: the reader's to say
    assert source_problems(source(file="u.csv", encoding="cp1252"), tmp_path) == []


def test_the_header_check_quotes_no_value_of_a_headerless_file(tmp_path):
    write_bytes(tmp_path / "p.csv", f"A001,{CANARY_NINO},{CANARY_SURNAME}\n")
    lines = source_problems(source(), tmp_path)
    assert len(lines) == 2  # the record id and the surname
    for line in lines:
        assert CANARY_NINO not in line and CANARY_SURNAME not in line and "did you mean" not in line
        assert "names not shown" in line


def test_a_misspelt_column_fails_the_command_before_prefect_starts(hostile, tmp_path):
    home = tmp_path / "prefect_home"
    cfg = write_bytes(tmp_path / "pace.yaml", CONFIG.replace("surname: Family", "surname: Famly"))
    res = cli("run", "--extracts", str(hostile["extracts"]), "--config", str(cfg), "--out", str(tmp_path / "out"),
              home=home)
    lines = error_lines(res)
    assert res.returncode == InputError.exit_code and len(lines) == 1
    assert lines[0].startswith(f"error: {cfg}: columns.surname: column 'Famly' not found in gamma.csv -- did you "
                               "mean 'Family'?")
    assert no_prefect_started(home)


def test_a_truth_file_naming_none_of_the_sources_fails_before_prefect_starts(hostile, tmp_path):
    home = tmp_path / "prefect_home"
    truth = write_bytes(tmp_path / "truth.csv", "source,record_id,person_id\nother,1,P1\n")
    res = cli("run", "--extracts", str(hostile["extracts"]), "--config", str(hostile["config"]),
              "--out", str(tmp_path / "out"), "--truth", str(truth), home=home)
    lines = error_lines(res)
    assert res.returncode == InputError.exit_code and len(lines) == 1
    assert lines[0] == (f"error: {truth}: the truth file names none of the run's sources (alpha, beta, gamma) in its "
                        "source column: is it the truth of other extracts?")
    assert no_prefect_started(home)


def test_truth_coverage_refuses_no_shared_record_and_warns_on_part():
    from pace_linkage.evaluate.quality import check_truth_coverage

    records = pd.DataFrame({"source": ["a", "a", "b"], "record_id": ["1", "2", "1"]})
    with pytest.raises(InputError, match="shares no record with this run"):
        check_truth_coverage(records, pd.DataFrame({"source": ["a"], "record_id": ["9"], "person_id": ["P"]}), "t.csv")
    half = pd.DataFrame({"source": ["a", "c"], "record_id": ["1", "1"], "person_id": ["P", "Q"]})
    assert check_truth_coverage(records, half, "t.csv") == ("t.csv: the truth file covers 1 of the run's 3 records "
                                                           "(the rest count as people of their own)")
    assert check_truth_coverage(records, records.assign(person_id="P"), "t.csv") is None


def test_a_truth_file_of_other_extracts_stops_the_flow_before_linking(prefect_harness, hostile, tmp_path):
    from flows.pipeline import pace_linkage_pipeline

    truth = write_bytes(tmp_path / "truth.csv", "source,record_id,person_id\nalpha,no-such-id,P1\n")
    with pytest.raises(InputError, match="shares no record with this run"):
        pace_linkage_pipeline(extracts=str(hostile["extracts"]), out=str(tmp_path / "out"),
                              config=str(hostile["config"]), truth=str(truth))
    assert not (tmp_path / "out" / "manifest.json").exists()


def test_reading_a_store_that_does_not_exist_creates_nothing(tmp_path):
    from pace_linkage.store.database import open_store

    res = cli("outbound", "--store", "nope.duckdb", "--partner", "alpha", "--out", "x.csv", cwd=tmp_path)
    lines = error_lines(res)
    assert res.returncode == InputError.exit_code
    assert lines == ["error: store duckdb:nope.duckdb: no such store (nothing was created)"]
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(InputError, match="no such store"):
        open_store(tmp_path / "other.duckdb", create=False)
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------------------------------
# Relative paths are read from the working directory
# --------------------------------------------------------------------------------------------------
def copy_config(tmp_path: Path) -> Path:
    """The repository's config folder copied elsewhere (the top-level file with its partner files)."""
    shutil.copytree(ROOT / "config", tmp_path / "cfg", ignore=shutil.ignore_patterns("*.md"))
    return tmp_path / "cfg"


def test_a_relative_config_loads_from_any_working_directory(tmp_path, monkeypatch):
    cfg_dir = copy_config(tmp_path)
    expected = load_config(ROOT / "config" / "pace.yaml").hash()
    for cwd, rel in ((tmp_path, "cfg/pace.yaml"), (cfg_dir, "pace.yaml"), (cfg_dir / "partners", "../pace.yaml")):
        monkeypatch.chdir(cwd)
        assert load_config(rel).hash() == expected
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as info:
        load_config("config/pace.yaml")
    assert str(info.value) == f"config/pace.yaml: file not found (relative to the working directory {tmp_path})"


def test_the_command_takes_a_relative_config_from_another_working_directory(tmp_path):
    copy_config(tmp_path)
    work = tmp_path / "elsewhere"
    work.mkdir()
    res = cli("run", "--config", "../cfg/pace.yaml", "--extracts", "../nope", "--out", "out", cwd=work,
              home=tmp_path / "prefect_home")
    # the config and its partner files loaded (relative to the config file); the pre-flight names the folder
    assert error_lines(res) == ["error: ../nope: extracts folder not found (--extracts names the folder holding the "
                                "partner extracts)"]


def test_the_flow_runs_with_relative_paths_from_another_working_directory(prefect_harness, hostile, tmp_path,
                                                                          monkeypatch):
    from flows.pipeline import pace_linkage_pipeline

    for name in ("extracts", "config", "truth"):
        src = hostile[name]
        (shutil.copytree if src.is_dir() else shutil.copy)(src, tmp_path / src.name)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    result = pace_linkage_pipeline(extracts="../extracts", out="out", config="../pace.yaml", truth="../truth.csv",
                                   run_id="relative")
    assert result["pairwise"]["f1"] > 0.5 and (work / "out" / "manifest.json").exists()


def test_a_config_folder_whose_name_holds_glob_characters_still_finds_its_partner_files(tmp_path):
    shutil.copytree(ROOT / "config", tmp_path / "configs [v2]*")
    cfg = load_config(tmp_path / "configs [v2]*" / "pace.yaml")
    assert len(cfg.sources.items) == len(load_config(ROOT / "config" / "pace.yaml").sources.items) == 10


@pytest.mark.parametrize("text", ['id_column: "pace\\ud800id"\n', '"\\udc80": 1\n', 'title: "\\U0001F600 \\udfff"\n'])
def test_a_config_string_with_a_lone_surrogate_is_refused_where_it_is_written(tmp_path, text):
    path = tmp_path / "pace.yaml"
    path.write_text("entity: person\n" + text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert message.startswith(f"{path}: line 2, column ") and "\n" not in message
    assert message.endswith(": a string holds an escaped lone surrogate (not valid Unicode)")
