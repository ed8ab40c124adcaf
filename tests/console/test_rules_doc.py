"""docs/rules.md lists every rule id that a test is named after."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from django.conf import settings

ROOT = Path(settings.BASE_DIR)
RULE_PART = re.compile(r"[tasmdb]\d{1,2}")


def _rule_ids_in_test_names() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for path in sorted((ROOT / "tests").rglob("test_*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith("test_"):
                for part in node.name.split("_"):
                    if RULE_PART.fullmatch(part):
                        found.setdefault(part.upper(), []).append(f"{path.relative_to(ROOT)}::{node.name}")
    return found


def test_every_rule_id_in_a_test_name_is_in_docs_rules():
    listed = set(re.findall(r"^\*\*([TASMDB]\d{1,2})\*\* ", (ROOT / "docs" / "rules.md").read_text(), re.M))
    in_tests = _rule_ids_in_test_names()
    assert {"S6", "T1", "B8"} <= set(in_tests)  # the scan sees the suite's test names
    missing = {rule: tests for rule, tests in in_tests.items() if rule not in listed}
    assert not missing, f"docs/rules.md does not list {missing}"


def test_docs_rules_lists_every_rule_of_the_product_once():
    listed = re.findall(r"^\*\*([TASMDB]\d{1,2})\*\* ", (ROOT / "docs" / "rules.md").read_text(), re.M)
    expected = [
        f"{group}{n}"
        for group, count in (("T", 15), ("A", 5), ("S", 13), ("M", 4), ("D", 6), ("B", 8))
        for n in range(1, count + 1)
    ]
    assert listed == expected
