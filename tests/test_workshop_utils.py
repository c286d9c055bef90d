"""The workshop notebooks end in a readable table, not a JSON tree of unrounded floats."""
from __future__ import annotations

import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "example_notebooks"))

import workshop_utils as w

DATA = {"rows": [{"name": "grid", "energy_j": 1234.56789, "emissions_g": 0.000123456789, "measured": False},
                 {"name": "random", "energy_j": 12.3456789, "emissions_g": 1.5e-07, "measured": True}],
        "cells": 2, "saving_pct": 98.98765432, "rec": {"energy_j": 0.0123456, "components": [{"name": "cpu"}]}}


def test_result_shows_a_rounded_html_table_and_keeps_the_exact_json():
    bundle = w.result_bundle("search", DATA)
    assert bundle[w.RESULT_MIME] == {"workshop_result": "search", **DATA}  # exact, for the tests
    page = bundle["text/html"]
    assert page.count("<table>") == 2 and "<th>energy_j</th>" in page
    for text in (page, bundle["text/plain"]):
        assert "1,235" in text and "12.3" in text and "0.000123" in text and "99" in text
        assert "1234.5" not in text and "98.98" not in text and "0.0123456" not in text
        assert not re.search(r"\de[-+]?\d", text)  # no 1.5e-07


def test_rounding_reads_plainly():
    assert [w._fmt(x) for x in (0.0, 1.5e-07, 0.0123456, 4.0, 98.98765, 1234.5, True, None)] == \
        ["0", "0.00000015", "0.0123", "4", "99", "1,234", "True", "None"]
