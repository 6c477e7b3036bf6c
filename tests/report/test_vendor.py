"""The vendored chart libraries are the files their README names, byte for byte, and ship with the package."""

import hashlib
import re
from pathlib import Path

import pace_linkage

VENDOR = Path(pace_linkage.__file__).parent / "report" / "vendor"


def _listed() -> dict[str, str]:
    rows = re.findall(r"^\| `([^`]+)` \| `([^`]+)` \| [^|]+ \| [^|]+ \| `([0-9a-f]{64})` \|$",
                      (VENDOR / "README.md").read_text(encoding="utf-8"), flags=re.MULTILINE)
    return {name: digest for name, _package, digest in rows}


def test_every_vendored_script_matches_its_listed_digest():
    listed = _listed()
    scripts = sorted(p.name for p in VENDOR.glob("*.js"))
    assert sorted(listed) == scripts
    for name, digest in listed.items():
        assert hashlib.sha256((VENDOR / name).read_bytes()).hexdigest() == digest, name


def test_every_vendored_package_has_its_licence():
    text = (VENDOR / "README.md").read_text(encoding="utf-8")
    for package in ("vega", "vega-lite", "vega-embed", "vega-interpreter"):
        assert f"`LICENSE-{package}`" in text
        assert "Redistribution and use" in (VENDOR / f"LICENSE-{package}").read_text(encoding="utf-8")


def test_the_interpreter_is_a_classic_script():
    text = (VENDOR / "vega-interpreter.js").read_text(encoding="utf-8")
    assert not re.search(r"^\s*(import|export)\b", text, flags=re.MULTILINE)
    assert "window.vegaInterpreter = { expressionInterpreter: expression };" in text
