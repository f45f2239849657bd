"""Validate the state machine definitions: `make lint` runs it (so does CI).

Two checks, each failing with a message that names the state:

1. cfn-lint's Amazon States Language rule (E3601: the states-language JSON schema, StartAt
   and Next targets), run on a CloudFormation document that embeds the definition the way
   the deployed stack does, with the template's ``DefinitionSubstitutions``;
2. the wiring between the definition and ``template.yaml``: every ``${Name}`` the
   definition uses is substituted by the template and every substitution is used; every
   state can be reached, and every ``Next`` / ``Default`` names a state of its own level.

Usage: python scripts/validate_asl.py [template.yaml]
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9_]+)\}")


class _CfnLoader(yaml.SafeLoader):
    """Reads CloudFormation short-form tags (!Ref, !GetAtt ...) as plain values."""


def _any_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return {suffix: loader.construct_scalar(node)}
    if isinstance(node, yaml.SequenceNode):
        return {suffix: loader.construct_sequence(node, deep=True)}
    return {suffix: loader.construct_mapping(node, deep=True)}  # type: ignore[arg-type]


_CfnLoader.add_multi_constructor("!", _any_tag)


def state_machines(template: Mapping[str, Any]) -> Iterator[tuple[str, Path, dict[str, Any]]]:
    """(logical id, definition file, substitutions) of every SAM state machine with a file."""
    for name, resource in (template.get("Resources") or {}).items():
        if resource.get("Type") != "AWS::Serverless::StateMachine":
            continue
        props = resource.get("Properties") or {}
        uri = props.get("DefinitionUri")
        if isinstance(uri, str):
            yield name, ROOT / uri, dict(props.get("DefinitionSubstitutions") or {})


def _walk_levels(
    states: Mapping[str, Any], start: str, where: str
) -> Iterator[tuple[str, Mapping[str, Any], str]]:
    yield where, states, start
    for name, state in states.items():
        processor = state.get("ItemProcessor") or state.get("Iterator")
        if isinstance(processor, Mapping):
            yield from _walk_levels(processor["States"], processor["StartAt"], f"{where}/{name}")
        for index, branch in enumerate(state.get("Branches") or ()):
            yield from _walk_levels(branch["States"], branch["StartAt"], f"{where}/{name}[{index}]")


def structure_problems(definition: Mapping[str, Any]) -> list[str]:
    """Unreachable states and transitions to a state of another level."""
    problems: list[str] = []
    for where, states, start in _walk_levels(definition["States"], definition["StartAt"], ""):
        seen, todo = set(), [start]
        while todo:
            name = todo.pop()
            if name in seen:
                continue
            if name not in states:
                problems.append(f"{where or '/'}: transition to {name!r}, no such state here")
                continue
            seen.add(name)
            state = states[name]
            targets = [state.get("Next"), state.get("Default")]
            targets += [c.get("Next") for c in state.get("Choices") or ()]
            targets += [c.get("Next") for c in state.get("Catch") or ()]
            todo.extend(t for t in targets if t)
            terminal = state.get("End") or state.get("Type") in ("Succeed", "Fail", "Choice")
            if not terminal and not state.get("Next"):
                problems.append(f"{where}/{name}: neither Next nor End")
        problems.extend(f"{where}/{name}: unreachable" for name in states if name not in seen)
    return problems


def cfn_lint_problems(name: str, definition: Any, substitutions: Mapping[str, Any]) -> list[str]:
    from cfnlint.api import lint

    document = {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Resources": {
            name: {
                "Type": "AWS::StepFunctions::StateMachine",
                "Properties": {
                    "RoleArn": "arn:aws:iam::123456789012:role/state-machine",
                    "Definition": definition,
                    "DefinitionSubstitutions": {
                        key: f"arn:aws:lambda:us-east-1:123456789012:function:{key}"
                        for key in substitutions
                    },
                },
            }
        },
    }
    matches = lint(json.dumps(document), regions=["us-east-1"])
    return [f"{m.rule.id} {m.message}" for m in matches if m.rule.id.startswith("E")]


def validate(template_path: Path) -> list[str]:
    template = yaml.load(template_path.read_text(encoding="utf-8"), Loader=_CfnLoader)  # noqa: S506  # nosec B506 - SafeLoader subclass
    problems: list[str] = []
    found = list(state_machines(template))
    if not found:
        return [f"{template_path}: no AWS::Serverless::StateMachine with a DefinitionUri file"]
    for name, path, substitutions in found:
        text = path.read_text(encoding="utf-8")
        try:
            definition = json.loads(text)
        except json.JSONDecodeError as exc:
            problems.append(f"{path.name}: not JSON: {exc}")
            continue
        used = set(PLACEHOLDER.findall(text))
        problems += [
            f"{path.name}: ${{{k}}} is not in {name}'s DefinitionSubstitutions"
            for k in sorted(used - set(substitutions))
        ]
        problems += [
            f"{name}: DefinitionSubstitutions {k} is never used in {path.name}"
            for k in sorted(set(substitutions) - used)
        ]
        problems += [
            f"{path.name}: {p}" for p in cfn_lint_problems(name, definition, substitutions)
        ]
        problems += [f"{path.name}: {p}" for p in structure_problems(definition)]
    return problems


def main(argv: list[str]) -> int:
    template = Path(argv[1]) if len(argv) > 1 else ROOT / "template.yaml"
    problems = validate(template)
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        return 1
    print(f"state machine definitions in {template.name}: valid")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
