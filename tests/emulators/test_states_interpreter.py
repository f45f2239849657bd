"""The ASL interpreter the workflow tests run on: it must behave like Step Functions.

Each test runs a small definition whose outcome is known from the States Language
specification: loops through Choice, Map items with a concurrency limit, paths, payload
limits, Retry and Catch, and Fail with paths.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from connect_user_sync_emulators.states import PAYLOAD_LIMIT, StateMachine

INVOKE = "arn:aws:states:::lambda:invoke"


def task(function: str, payload: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "Type": "Task",
        "Resource": INVOKE,
        "Parameters": {"FunctionName": function, "Payload": payload},
        **extra,
    }


def test_a_choice_loop_runs_until_its_condition_and_keeps_the_state_between_passes() -> None:
    # GIVEN a loop that counts up in a Lambda until the count reaches the input's limit
    definition = {
        "StartAt": "Init",
        "States": {
            "Init": {"Type": "Pass", "Result": {"n": 0}, "ResultPath": "$.counter", "Next": "Add"},
            "Add": task(
                "add",
                {"n.$": "$.counter.n"},
                ResultSelector={"n.$": "$.Payload.n"},
                ResultPath="$.counter",
                Next="Enough",
            ),
            "Enough": {
                "Type": "Choice",
                "Choices": [
                    {
                        "Variable": "$.counter.n",
                        "NumericGreaterThanEqualsPath": "$.limit",
                        "Next": "Done",
                    }
                ],
                "Default": "Add",
            },
            "Done": {"Type": "Succeed", "OutputPath": "$.counter"},
        },
    }
    machine = StateMachine(definition, {"add": lambda p: {"n": p["n"] + 1}})

    # WHEN it runs with a limit of 4
    run = machine.start({"limit": 4})

    # THEN the task ran four times and the output is the final counter
    assert run.status == "SUCCEEDED", run.cause
    assert run.output == {"n": 4}
    assert run.invocations["add"] == 4
    assert run.entered("Enough") == 4


def test_map_items_run_side_by_side_up_to_max_concurrency_and_keep_their_order() -> None:
    inside = 0
    most = 0
    lock = threading.Lock()

    def slow(payload: dict[str, Any]) -> dict[str, Any]:
        nonlocal inside, most
        with lock:
            inside += 1
            most = max(most, inside)
        time.sleep(0.05)
        with lock:
            inside -= 1
        return {"doubled": payload["value"] * 2}

    def definition(limit: int) -> dict[str, Any]:
        return {
            "StartAt": "Each",
            "States": {
                "Each": {
                    "Type": "Map",
                    "ItemsPath": "$.values",
                    "MaxConcurrency": limit,
                    "ItemSelector": {"value.$": "$$.Map.Item.Value", "tag.$": "$.tag"},
                    "ItemProcessor": {
                        "ProcessorConfig": {"Mode": "INLINE"},
                        "StartAt": "Double",
                        "States": {
                            "Double": task(
                                "slow", {"value.$": "$.value"}, OutputPath="$.Payload", End=True
                            )
                        },
                    },
                    "ResultPath": "$.results",
                    "End": True,
                }
            },
        }

    parallel = StateMachine(definition(3), {"slow": slow}).start(
        {"values": [1, 2, 3, 4, 5, 6], "tag": "x"}
    )
    assert parallel.status == "SUCCEEDED", parallel.cause
    assert [r["doubled"] for r in parallel.output["results"]] == [2, 4, 6, 8, 10, 12]
    assert most == 3

    most = 0
    serial = StateMachine(definition(1), {"slow": slow}).start({"values": [1, 2, 3], "tag": "x"})
    assert serial.status == "SUCCEEDED"
    assert most == 1


def test_data_over_the_payload_limit_fails_the_execution_like_step_functions() -> None:
    definition = {
        "StartAt": "Big",
        "States": {"Big": task("big", {}, OutputPath="$.Payload", End=True)},
    }
    machine = StateMachine(definition, {"big": lambda p: {"blob": "x" * PAYLOAD_LIMIT}})

    run = machine.start({})

    assert run.status == "FAILED"
    assert run.error == "States.DataLimitExceeded"


def test_retry_then_catch_routes_a_failing_task_and_keeps_the_error() -> None:
    calls = 0

    def flaky(payload: dict[str, Any]) -> dict[str, Any]:
        nonlocal calls
        calls += 1
        raise RuntimeError("boom")

    definition = {
        "StartAt": "Try",
        "States": {
            "Try": task(
                "flaky",
                {},
                Retry=[{"ErrorEquals": ["RuntimeError"], "MaxAttempts": 2}],
                Catch=[
                    {"ErrorEquals": ["States.ALL"], "ResultPath": "$.failure", "Next": "Caught"}
                ],
                Next="Never",
            ),
            "Never": {"Type": "Succeed"},
            "Caught": {"Type": "Pass", "End": True},
        },
    }
    run = StateMachine(definition, {"flaky": flaky}).start({"keep": 1})

    assert run.status == "SUCCEEDED"
    assert calls == 3  # the first try and two retries
    assert run.output["keep"] == 1
    assert run.output["failure"]["Error"] == "RuntimeError"
    assert "boom" in run.output["failure"]["Cause"]


def test_fail_takes_error_and_cause_from_paths_and_a_missing_path_is_a_runtime_error() -> None:
    definition = {
        "StartAt": "Check",
        "States": {
            "Check": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.error", "IsNull": False, "Next": "Stop"}],
                "Default": "Fine",
            },
            "Stop": {"Type": "Fail", "ErrorPath": "$.error.type", "CausePath": "$.error.message"},
            "Fine": {"Type": "Succeed"},
        },
    }
    machine = StateMachine(definition, {})

    failed = machine.start({"error": {"type": "ConfigurationError", "message": "fix key x"}})
    assert (failed.status, failed.error, failed.cause) == (
        "FAILED",
        "ConfigurationError",
        "fix key x",
    )
    assert machine.start({"error": None}).status == "SUCCEEDED"
    missing = machine.start({})
    assert (missing.status, missing.error) == ("FAILED", "States.Runtime")


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ({"Variable": "$.a", "BooleanEquals": False}, True),
        ({"Variable": "$.n", "NumericGreaterThanEquals": 3}, True),
        ({"Variable": "$.n", "NumericLessThan": 3}, False),
        ({"Variable": "$.s", "StringEquals": "x"}, True),
        ({"Variable": "$.nope", "IsPresent": False}, True),
        ({"Not": {"Variable": "$.s", "StringEquals": "x"}}, False),
        (
            {
                "And": [
                    {"Variable": "$.a", "BooleanEquals": False},
                    {"Variable": "$.n", "NumericEquals": 3},
                ]
            },
            True,
        ),
        ({"Variable": "$.s", "NumericEquals": 3}, False),  # a string is never numerically equal
    ],
)
def test_choice_rules(rule: dict[str, Any], expected: bool) -> None:
    definition = {
        "StartAt": "C",
        "States": {
            "C": {"Type": "Choice", "Choices": [{**rule, "Next": "Yes"}], "Default": "No"},
            "Yes": {"Type": "Pass", "Result": True, "End": True},
            "No": {"Type": "Pass", "Result": False, "End": True},
        },
    }
    assert StateMachine(definition, {}).start({"a": False, "n": 3, "s": "x"}).output is expected
