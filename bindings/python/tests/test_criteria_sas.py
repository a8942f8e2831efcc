"""Criteria validation and SAS checks on the shared vectors (tests/vectors/criteria, sas)."""
import importlib.util
import json
import threading

import pytest

import escrow

from conftest import vectors_dir


def _lines(name):
    return (vectors_dir() / "criteria" / name).read_text().splitlines()


@pytest.mark.parametrize("cases,expected", [("cases.jsonl", "expected.jsonl"),
                                            ("cerberus_suite.jsonl", "cerberus_suite.expected.jsonl")])
def test_criteria_vectors_match_cerberus(cases, expected):
    got_lines, want_lines = _lines(cases), _lines(expected)
    assert len(got_lines) == len(want_lines) > 100
    # the same judge as the C differential test (tests/criteria/compare.py)
    spec = importlib.util.spec_from_file_location(
        "escrow_compare", vectors_dir().parent / "criteria" / "compare.py")
    compare = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(compare)
    mismatches = []
    for i, (line, want) in enumerate(zip(got_lines, want_lines)):
        v = compare.verdict(json.loads(want), escrow.check_pair(line))
        if v.startswith("differ"):
            mismatches.append((i + 1, v))
    assert not mismatches, f"lines differing from Cerberus: {mismatches[:20]}"


SCHEMA = {"report": {"type": "dict", "schema": {
    "accuracy": {"type": "float", "min": 0, "max": 1},
    "n": {"type": "integer", "min": 1}}}}


def test_criteria_validate_and_report_forms(tmp_path):
    with escrow.Criteria(SCHEMA) as c:
        assert c.validate({"report": {"accuracy": 0.5, "n": 3}}) == (True, {})
        v = c.validate('{"report": {"accuracy": 1.5, "n": 0}, "x": 1}')
        assert not v.valid
        assert v.errors == {"report": [{"accuracy": ["max value is 1"], "n": ["min value is 1"]}],
                            "x": ["unknown field"]}
        ok, answer = c.validate_report(json.dumps(json.dumps({"report": {"accuracy": 0.1, "n": 2}})))
        assert ok and answer == {"status": "successful", "message": {}}
        p = tmp_path / "r.json"
        p.write_text('{"report": {"accuracy": -1, "n": 1}}')
        assert c.validate_file(p) == (False, {"report": [{"accuracy": ["min value is 0"]}]})
        with pytest.raises(escrow.FormatError):
            c.validate("[1, 2]")  # root not an object: Cerberus's DocumentError
        assert "channels" in c.audit()
    with escrow.Criteria(SCHEMA, allow_unknown=True) as c:
        assert c.validate({"x": 1}).valid


def test_refused_schema_carries_the_schema_error_tree():
    with pytest.raises(escrow.SchemaError) as e:
        escrow.Criteria({"a": {"type": "flaot"}})
    assert e.value.code_name == "ESCROW_E_FORMAT"
    assert e.value.schema_errors == {"a": [{"type": ["Unsupported types: flaot"]}]}


def test_criteria_shared_by_threads():
    c = escrow.Criteria(SCHEMA)
    errors = []

    def work(i):
        for j in range(200):
            v = c.validate({"report": {"accuracy": (i + j) % 3 * 0.75, "n": 1}})
            if v.valid != ((i + j) % 3 < 2):
                errors.append((i, j, v))

    ts = [threading.Thread(target=work, args=(i,)) for i in range(6)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert not errors


SAS = json.loads((vectors_dir() / "sas" / "check.json").read_text())


@pytest.mark.parametrize("case", SAS["cases"], ids=lambda c: c["name"])
def test_sas_vectors(case):
    r = escrow.check_sas(case["url"], case["now"],
                         allow_loopback_http="allow_loopback_http" in case.get("flags", []))
    assert r.status == case["status"]
    assert r.message == SAS["messages"][case["status"]]
    if "reason_contains" in case:
        assert case["reason_contains"] in r.reason


def test_sas_bad_time_is_a_format_error():
    with pytest.raises(escrow.FormatError):
        escrow.check_sas("https://a.blob.core.windows.net/c?sig=x", "yesterday")
