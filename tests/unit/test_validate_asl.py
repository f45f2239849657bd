"""The state machine definition is checked by scripts/validate_asl.py (``make lint``).

The real definition passes; each kind of mistake the check exists for is caught.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
SUBSTITUTIONS = {"ReadFunctionArn": 1, "ApplyFunctionArn": 1, "FinishFunctionArn": 1}


@pytest.fixture(scope="module")
def validator() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "validate_asl", ROOT / "scripts" / "validate_asl.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def definition() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(
        (ROOT / "statemachine" / "sync.asl.json").read_text(encoding="utf-8")
    )
    return document


def test_the_definition_and_its_template_wiring_are_valid(validator: ModuleType) -> None:
    assert validator.validate(ROOT / "template.yaml") == []


def test_a_state_of_an_unknown_type_or_a_bad_field_fails_the_schema(
    validator: ModuleType, definition: dict[str, Any]
) -> None:
    broken = copy.deepcopy(definition)
    broken["States"]["FinishRun"]["Type"] = "Tsk"
    broken["States"]["ApplyByQuotaScope"]["MaxConcurrency"] = "ten"
    problems = validator.cfn_lint_problems("SyncStateMachine", broken, SUBSTITUTIONS)
    assert any("Tsk" in p for p in problems)
    assert any("ten" in p for p in problems)


def test_a_transition_to_nowhere_and_an_unreachable_state_are_caught(
    validator: ModuleType, definition: dict[str, Any]
) -> None:
    broken = copy.deepcopy(definition)
    inner = broken["States"]["ApplyByQuotaScope"]["ItemProcessor"]["States"]
    loop = inner["TargetsOfTheScopeInTurn"]["ItemProcessor"]["States"]
    loop["Converged"]["Default"] = "ApplyPas"
    problems = validator.structure_problems(broken)
    assert any("'ApplyPas'" in p for p in problems)
    assert not validator.structure_problems(definition)
    loop["Converged"]["Default"] = "ApplyPass"
    del loop["Converged"]["Choices"][1]  # the cap's rule: TargetCapped can no longer be reached
    assert any("TargetCapped: unreachable" in p for p in validator.structure_problems(broken))
