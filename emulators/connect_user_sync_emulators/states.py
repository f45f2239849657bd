"""A small Amazon States Language interpreter that runs Lambda tasks in-process.

It walks a state machine definition the way Step Functions does, for tests and
benchmarks of a workflow's control flow on one machine: ``Task`` (the optimized
``arn:aws:states:::lambda:invoke`` integration or a plain function ARN) calls a Python
callable registered under the function's ARN, with the JSON round trip Lambda applies;
``Choice``, ``Map`` (``ItemsPath``, ``ItemSelector``/``Parameters``, ``ItemProcessor`` or
``Iterator``, ``MaxConcurrency`` with real threads), ``Pass``, ``Wait`` (not waited),
``Succeed`` and ``Fail`` (``Error``/``Cause`` or their ``Path`` forms). Input and output
processing follows the specification: ``InputPath``, ``Parameters`` (keys ending ``.$``
take a path, ``$$`` is the context object), ``ResultSelector``, ``ResultPath``,
``OutputPath``. ``Retry`` and ``Catch`` match error names (``States.ALL`` too); retries
do not sleep.

Every state's input and output is checked against Step Functions' payload limit (256 KB
of UTF-8 JSON): a workflow that would pass its data through the state fails here with
``States.DataLimitExceeded``, as it would in AWS. What it does not do: intrinsic functions,
``Parallel``, JSONata, distributed maps, timeouts and heartbeats.

Moto's Step Functions can execute definitions too, but runs Lambda tasks through its
Lambda backend, which needs Docker; this one calls the handler directly.
"""

from __future__ import annotations

import copy
import json
import re
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

__all__ = ["PAYLOAD_LIMIT", "Execution", "StateMachine", "StatesError"]

PAYLOAD_LIMIT = 262_144  # bytes of UTF-8 JSON, per state input or output
LAMBDA_INVOKE = "arn:aws:states:::lambda:invoke"
_TOKEN = re.compile(r"\.([^.\[\]]+)|\[(\d+)\]")
_MISSING = object()  # "no default": a path that is not there is an error
_ABSENT = object()  # a default that tells "not there" apart from null


class StatesError(Exception):
    """An error inside the execution, named as Step Functions names it."""

    def __init__(self, error: str, cause: str = "") -> None:
        super().__init__(f"{error}: {cause}" if cause else error)
        self.error = error
        self.cause = cause


@dataclass
class Execution:
    """The result of one execution, with what the tests want to look at."""

    status: str = "RUNNING"
    output: Any = None
    error: str | None = None
    cause: str | None = None
    history: list[str] = field(default_factory=list)  # every state entered, by path
    invocations: Counter[str] = field(default_factory=Counter)  # Lambda calls per function
    largest_payload: int = 0  # bytes, the largest state input or output seen
    map_concurrency: dict[str, int] = field(default_factory=dict)  # most items at once

    def entered(self, name: str) -> int:
        """How many times a state of this name was entered (at any level)."""
        return sum(1 for path in self.history if path.rsplit("/", 1)[-1] == name)


class StateMachine:
    """A definition and the functions its tasks call, by ARN (or name)."""

    def __init__(
        self,
        definition: Mapping[str, Any],
        functions: Mapping[str, Callable[[Any], Any]],
        *,
        name: str = "state-machine",
        payload_limit: int = PAYLOAD_LIMIT,
    ) -> None:
        self.definition = definition
        self.functions = dict(functions)
        self.name = name
        self.payload_limit = payload_limit
        self._lock = threading.Lock()

    def start(self, execution_input: Any = None, *, name: str | None = None) -> Execution:
        """Run one execution to its end and return it (SUCCEEDED or FAILED)."""
        run = Execution()
        exec_name = name or uuid.uuid4().hex
        arn = f"arn:aws:states:us-east-1:123456789012:execution:{self.name}:{exec_name}"
        context = {
            "Execution": {
                "Id": arn,
                "Name": exec_name,
                "StartTime": datetime.now(UTC).isoformat(),
                "Input": copy.deepcopy(execution_input),
            },
            "StateMachine": {"Id": arn.replace(":execution:", ":stateMachine:"), "Name": self.name},
        }
        try:
            data = self._json(execution_input if execution_input is not None else {}, run)
            run.output = self._run(self.definition, data, context, run, "")
            run.status = "SUCCEEDED"
        except StatesError as exc:
            run.status, run.error, run.cause = "FAILED", exc.error, exc.cause
        return run

    # ----------------------------------------------------------------- states

    def _run(
        self,
        level: Mapping[str, Any],
        data: Any,
        context: dict[str, Any],
        run: Execution,
        where: str,
    ) -> Any:
        states = level["States"]
        name = level["StartAt"]
        while True:
            if name not in states:
                raise StatesError("States.Runtime", f"no state {name!r} at {where or '/'}")
            state = states[name]
            with self._lock:
                run.history.append(f"{where}/{name}")
            context = {**context, "State": {"Name": name}}
            kind = state.get("Type")
            if kind == "Choice":
                name = self._choose(state, self._input(state, data, context), name)
                continue
            if kind == "Succeed":
                return self._output(state, self._input(state, data, context), run)
            if kind == "Fail":
                raise StatesError(
                    state.get("Error") or str(_get(data, state.get("ErrorPath"), context, "")),
                    state.get("Cause") or str(_get(data, state.get("CausePath"), context, "")),
                )
            try:
                data = self._step(state, kind, data, context, run, f"{where}/{name}")
            except StatesError as exc:
                catcher = _matching(state.get("Catch"), exc.error)
                if catcher is None:
                    raise
                error_output = {"Error": exc.error, "Cause": exc.cause}
                data = self._result_path(catcher.get("ResultPath", "$"), data, error_output, run)
                name = catcher["Next"]
                continue
            if state.get("End"):
                return data
            name = state["Next"]

    def _step(
        self,
        state: Mapping[str, Any],
        kind: str,
        data: Any,
        context: dict[str, Any],
        run: Execution,
        path: str,
    ) -> Any:
        effective = self._input(state, data, context)
        if kind == "Pass":
            if "Result" in state:
                result = copy.deepcopy(state["Result"])
            elif "Parameters" in state:
                result = _template(state["Parameters"], effective, context)
            else:
                result = effective
        elif kind == "Wait":
            result = effective
        elif kind == "Task":
            result = self._task(state, effective, context, run)
        elif kind == "Map":
            result = self._map(state, effective, context, run, path)
        else:
            raise StatesError("States.Runtime", f"state type {kind!r} is not supported at {path}")
        if "ResultSelector" in state:
            result = _template(state["ResultSelector"], result, context)
        combined = self._result_path(state.get("ResultPath", "$"), data, result, run)
        return self._output(state, combined, run)

    def _input(self, state: Mapping[str, Any], data: Any, context: Mapping[str, Any]) -> Any:
        path = state.get("InputPath", "$")
        effective = {} if path is None else _get(data, path, context)
        if "Parameters" in state and state.get("Type") == "Task":  # a Map's are per item
            effective = _template(state["Parameters"], effective, context)
        return effective

    def _output(self, state: Mapping[str, Any], data: Any, run: Execution) -> Any:
        path = state.get("OutputPath", "$")
        return self._json({} if path is None else _get(data, path, {}), run)

    def _result_path(self, path: str | None, data: Any, result: Any, run: Execution) -> Any:
        if path is None:
            return data
        if path == "$":
            return self._json(result, run)
        combined = copy.deepcopy(data)
        if not isinstance(combined, dict):
            raise StatesError("States.Runtime", f"ResultPath {path} needs an object as input")
        _set(combined, path, copy.deepcopy(result))
        return self._json(combined, run)

    def _json(self, value: Any, run: Execution) -> Any:
        text = json.dumps(value)
        size = len(text.encode("utf-8"))
        with self._lock:
            run.largest_payload = max(run.largest_payload, size)
        if size > self.payload_limit:
            raise StatesError(
                "States.DataLimitExceeded",
                f"a state's data is {size} bytes; Step Functions allows {self.payload_limit}",
            )
        return json.loads(text)

    # ----------------------------------------------------------------- tasks

    def _task(
        self, state: Mapping[str, Any], effective: Any, context: Mapping[str, Any], run: Execution
    ) -> Any:
        resource = state["Resource"]
        if resource == LAMBDA_INVOKE:
            function, payload = effective.get("FunctionName"), effective.get("Payload", effective)
        elif resource.startswith("arn:aws:lambda:") or resource in self.functions:
            function, payload = resource, effective
        else:
            raise StatesError("States.Runtime", f"resource {resource!r} is not supported")
        handler = self.functions.get(function)
        if handler is None:
            raise StatesError("Lambda.ResourceNotFoundException", f"no function {function!r}")
        attempts: Counter[int] = Counter()
        while True:
            try:
                with self._lock:
                    run.invocations[function] += 1
                result = self._json(handler(self._json(payload, run)), run)
                break
            except StatesError as exc:
                error = exc
            except Exception as exc:  # a handler's exception, as Lambda reports it
                kind = type(exc).__name__
                error = StatesError(kind, json.dumps({"errorMessage": str(exc), "errorType": kind}))
            retrier = _matching(state.get("Retry"), error.error, index=True)
            if retrier is None:
                raise error
            index, rule = retrier
            attempts[index] += 1
            if attempts[index] > int(rule.get("MaxAttempts", 3)):
                raise error
        if resource == LAMBDA_INVOKE:
            return {"ExecutedVersion": "$LATEST", "Payload": result, "StatusCode": 200}
        return result

    # ----------------------------------------------------------------- map

    def _map(
        self,
        state: Mapping[str, Any],
        effective: Any,
        context: Mapping[str, Any],
        run: Execution,
        path: str,
    ) -> list[Any]:
        items = _get(effective, state.get("ItemsPath", "$"), context)
        if not isinstance(items, list):
            raise StatesError("States.Runtime", f"{path}: ItemsPath does not select an array")
        processor = state.get("ItemProcessor") or state.get("Iterator")
        if not isinstance(processor, Mapping):
            raise StatesError("States.Runtime", f"{path}: a Map needs an ItemProcessor")
        selector = state.get("ItemSelector", state.get("Parameters"))
        limit = int(state.get("MaxConcurrency", 0)) or max(1, min(len(items), 40))
        running = 0

        def one(index: int, item: Any) -> Any:
            nonlocal running
            item_context = {**context, "Map": {"Item": {"Index": index, "Value": item}}}
            item_input = item if selector is None else _template(selector, effective, item_context)
            with self._lock:
                running += 1
                run.map_concurrency[path] = max(run.map_concurrency.get(path, 0), running)
            try:
                return self._run(processor, self._json(item_input, run), item_context, run, path)
            finally:
                with self._lock:
                    running -= 1

        if not items:
            return []
        with ThreadPoolExecutor(max_workers=limit, thread_name_prefix="map") as pool:
            futures = [pool.submit(one, i, item) for i, item in enumerate(items)]
            return [f.result() for f in futures]

    # ----------------------------------------------------------------- choice

    def _choose(self, state: Mapping[str, Any], data: Any, name: str) -> str:
        for rule in state.get("Choices") or ():
            if _rule(rule, data):
                return str(rule["Next"])
        if "Default" in state:
            return str(state["Default"])
        raise StatesError("States.NoChoiceMatched", f"no choice of {name} matched")


# --------------------------------------------------------------------------- paths


def _tokens(path: str) -> list[str | int]:
    body = path[2:] if path.startswith("$$") else path[1:]
    tokens: list[str | int] = []
    position = 0
    for match in _TOKEN.finditer(body):
        if match.start() != position:
            raise StatesError("States.Runtime", f"unsupported path {path!r}")
        tokens.append(match.group(1) if match.group(1) is not None else int(match.group(2)))
        position = match.end()
    if position != len(body):
        raise StatesError("States.Runtime", f"unsupported path {path!r}")
    return tokens


def _get(data: Any, path: str | None, context: Mapping[str, Any], default: Any = _MISSING) -> Any:
    if path is None:
        return default if default is not _MISSING else None
    if not path.startswith("$"):
        raise StatesError("States.Runtime", f"a path starts with $: {path!r}")
    value: Any = context if path.startswith("$$") else data
    for token in _tokens(path):
        try:
            value = value[token]
        except (KeyError, IndexError, TypeError):
            if default is not _MISSING:
                return default
            raise StatesError(
                "States.Runtime", f"the JSONPath {path!r} could not be found in the input"
            ) from None
    return copy.deepcopy(value)


def _set(data: dict[str, Any], path: str, value: Any) -> None:
    tokens = _tokens(path)
    target: Any = data
    for token in tokens[:-1]:
        if isinstance(token, int) or not isinstance(target, dict):
            raise StatesError("States.Runtime", f"ResultPath {path!r} cannot be set")
        target = target.setdefault(token, {})
    if not isinstance(target, dict) or isinstance(tokens[-1], int):
        raise StatesError("States.Runtime", f"ResultPath {path!r} cannot be set")
    target[tokens[-1]] = value


def _template(template: Any, data: Any, context: Mapping[str, Any]) -> Any:
    if isinstance(template, dict):
        out: dict[str, Any] = {}
        for key, value in template.items():
            if key.endswith(".$"):
                if not isinstance(value, str) or value.startswith("States."):
                    raise StatesError(
                        "States.Runtime", f"{key}: intrinsic functions are not supported"
                    )
                out[key[:-2]] = _get(data, value, context)
            else:
                out[key] = _template(value, data, context)
        return out
    if isinstance(template, list):
        return [_template(v, data, context) for v in template]
    return copy.deepcopy(template)


def _matching(rules: Any, error: str, *, index: bool = False) -> Any:
    for position, rule in enumerate(rules or ()):
        names = rule.get("ErrorEquals") or ()
        if error in names or ("States.ALL" in names and error != "States.Runtime"):
            return (position, rule) if index else rule
    return None


_COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {
    "Equals": lambda a, b: a == b,
    "LessThan": lambda a, b: a < b,
    "GreaterThan": lambda a, b: a > b,
    "LessThanEquals": lambda a, b: a <= b,
    "GreaterThanEquals": lambda a, b: a >= b,
}
_KINDS: dict[str, Callable[[Any], bool]] = {
    "String": lambda v: isinstance(v, str),
    "Numeric": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "Boolean": lambda v: isinstance(v, bool),
}


def _rule(rule: Mapping[str, Any], data: Any) -> bool:
    if "And" in rule:
        return all(_rule(r, data) for r in rule["And"])
    if "Or" in rule:
        return any(_rule(r, data) for r in rule["Or"])
    if "Not" in rule:
        return not _rule(rule["Not"], data)
    variable = rule["Variable"]
    if "IsPresent" in rule:
        present = _get(data, variable, {}, default=_ABSENT) is not _ABSENT
        return present == bool(rule["IsPresent"])
    value = _get(data, variable, {})
    for key, given in rule.items():
        expected = given
        if key in ("Variable", "Next", "Comment"):
            continue
        if key == "IsNull":
            return (value is None) == bool(expected)
        for kind, check in _KINDS.items():
            if key == f"Is{kind}":
                return check(value) == bool(expected)
            if key.startswith(kind):
                operator = key[len(kind) :]
                if operator.endswith("Path"):
                    operator, expected = operator[: -len("Path")], _get(data, expected, {})
                compare = _COMPARISONS.get(operator)
                if compare is None:
                    break
                return check(value) and check(expected) and compare(value, expected)
        raise StatesError("States.Runtime", f"unsupported choice rule {key!r}")
    raise StatesError("States.Runtime", f"choice rule on {variable} has no comparison")
