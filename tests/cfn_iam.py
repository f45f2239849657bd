"""Render a CloudFormation template's IAM policies for given parameters, and evaluate them.

Two small, self-contained models used by the template tests:

- ``render`` resolves the intrinsic functions the templates use (``Ref``, ``Fn::Sub``,
  ``Fn::Join``, ``Fn::Split``, ``Fn::Select``, ``Fn::If``, ``Fn::GetAtt`` as a placeholder
  ARN, and the condition functions) the way CloudFormation does, with the parameters a
  person would deploy with: a ``CommaDelimitedList`` parameter is a list, ``AWS::NoValue``
  drops the element, conditions are evaluated.
- ``allowed`` answers whether identity-policy statements allow one request, following
  IAM's documented evaluation for one account: an explicit Deny wins; otherwise every
  resource the action authorizes on needs an Allow statement whose action, resource and
  every condition match. Condition operators are ANDed, keys within one operator ANDed,
  values of one key ORed; ``ForAllValues`` holds for a request without the key,
  ``ForAnyValue`` and the plain operators do not; ``aws:ResourceTag/...`` reads the tags
  of the resource being authorized.

It covers what these templates use, nothing more: an operator or function it does not know
is an error, never a silent pass.
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tests.conftest import CfnLoader

ROOT = Path(__file__).resolve().parent.parent
NO_VALUE = object()


def load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = yaml.load(path.read_text(encoding="utf-8"), Loader=CfnLoader)
    return data


# --------------------------------------------------------------------------- rendering


class Renderer:
    """Intrinsic functions resolved for one set of parameter values."""

    def __init__(
        self,
        template: Mapping[str, Any],
        parameters: Mapping[str, str],
        *,
        account: str = "123456789012",
        region: str = "us-east-1",
        partition: str = "aws",
        stack: str = "sync",
    ) -> None:
        self.template = template
        self.values: dict[str, Any] = {
            "AWS::AccountId": account,
            "AWS::Region": region,
            "AWS::Partition": partition,
            "AWS::StackName": stack,
            "AWS::URLSuffix": "amazonaws.com",
        }
        declared = template.get("Parameters", {})
        unknown = set(parameters) - set(declared)
        if unknown:
            raise KeyError(f"not parameters of the template: {sorted(unknown)}")
        for name, spec in declared.items():
            if name in parameters:
                raw = parameters[name]
            elif "Default" in spec:
                raw = str(spec["Default"])
            else:
                raise KeyError(f"parameter {name} has no default: give a value")
            if spec["Type"] == "CommaDelimitedList":
                items = [part.strip() for part in raw.split(",")]
                pattern = spec.get("AllowedPattern")
                for item in items:
                    if pattern and not re.fullmatch(pattern, item):
                        raise ValueError(f"{name}: {item!r} does not match {pattern}")
                self.values[name] = items
            else:
                pattern = spec.get("AllowedPattern")
                if pattern and not re.fullmatch(pattern, raw):
                    raise ValueError(f"{name}: {raw!r} does not match {pattern}")
                allowed = spec.get("AllowedValues")
                if allowed and raw not in [str(a) for a in allowed]:
                    raise ValueError(f"{name}: {raw!r} is not one of {allowed}")
                self.values[name] = raw
        self.conditions = {
            name: bool(self.value(expr)) for name, expr in template.get("Conditions", {}).items()
        }

    def condition(self, name: str) -> bool:
        return self.conditions[name]

    def value(self, node: Any) -> Any:  # one branch per intrinsic function
        if isinstance(node, list):
            out = [self.value(v) for v in node]
            return [v for v in out if v is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((key, arg),) = node.items()
            if key == "Ref":
                if arg == "AWS::NoValue":
                    return NO_VALUE
                if arg in self.values:
                    return self.values[arg]
                return f"<{arg}>"  # a resource's physical id
            if key == "Fn::GetAtt":
                name, attribute = arg
                return f"arn:aws:placeholder:::{name}.{attribute}"
            if key == "Fn::If":
                name, then, otherwise = arg
                return self.value(then if self.conditions[name] else otherwise)
            if key == "Fn::Join":
                delimiter, items = arg
                if not isinstance(delimiter, str):
                    raise TypeError("Fn::Join takes a literal delimiter")
                return delimiter.join(str(v) for v in self.value(items))
            if key == "Fn::Split":
                delimiter, text = arg
                if not isinstance(delimiter, str):
                    raise TypeError("Fn::Split takes a literal delimiter")
                return str(self.value(text)).split(delimiter)
            if key == "Fn::Select":
                index, items = arg
                return self.value(items)[int(self.value(index))]
            if key == "Fn::Sub":
                return self._sub(arg)
            if key == "Fn::Equals":
                left, right = (self.value(v) for v in arg)
                return left == right
            if key == "Fn::Not":
                return not self.value(arg[0])
            if key == "Fn::And":
                return all(self.value(v) for v in arg)
            if key == "Fn::Or":
                return any(self.value(v) for v in arg)
            if key == "Condition":
                return self.conditions[arg]
            if key.startswith("Fn::"):
                raise NotImplementedError(key)
        out = {k: self.value(v) for k, v in node.items()}
        return {k: v for k, v in out.items() if v is not NO_VALUE}

    def _sub(self, arg: Any) -> str:
        text, variables = (arg, {}) if isinstance(arg, str) else arg
        local = {k: self.value(v) for k, v in variables.items()}

        def one(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in local:
                return str(local[name])
            if name in self.values:
                value = self.values[name]
                if isinstance(value, list):
                    raise TypeError(f"${{{name}}} is a list: Fn::Sub takes strings")
                return str(value)
            if "." in name:
                return f"arn:aws:placeholder:::{name}"
            return f"<{name}>"

        return re.sub(r"\$\{([^}!]+)\}", one, text)

    def resource(self, name: str) -> dict[str, Any]:
        resource = self.template["Resources"][name]
        if "Condition" in resource and not self.conditions[resource["Condition"]]:
            raise KeyError(f"{name} is not created with these parameters")
        rendered: dict[str, Any] = self.value(resource.get("Properties", {}))
        return rendered

    def role_statements(self, role: str) -> list[dict[str, Any]]:
        statements: list[dict[str, Any]] = []
        for policy in self.resource(role).get("Policies", []):
            statements.extend(policy["PolicyDocument"]["Statement"])
        return statements

    def inline_policy_size(self, role: str) -> int:
        """Characters IAM counts against a role's inline-policy quota (no whitespace)."""
        return sum(
            len(json.dumps(p["PolicyDocument"], separators=(",", ":")))
            for p in self.resource(role).get("Policies", [])
        )


def render(path: Path, parameters: Mapping[str, str], **pseudo: str) -> Renderer:
    return Renderer(load(path), parameters, **pseudo)


# --------------------------------------------------------------------------- evaluation


@dataclass(frozen=True)
class Resource:
    """A resource the action authorizes on, with the tags it carries."""

    arn: str
    tags: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Request:
    action: str
    resources: Sequence[Resource]
    context: Mapping[str, Any] = field(default_factory=dict)  # aws:RequestTag/..., aws:TagKeys


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _glob(pattern: str, value: str, *, case: bool = True) -> bool:
    translated = fnmatch.translate(pattern if case else pattern.lower())
    return re.match(translated, value if case else value.lower(), re.DOTALL) is not None


def _key_values(key: str, request: Request, resource: Resource) -> list[str] | None:
    lowered = key.lower()
    if lowered.startswith("aws:resourcetag/"):
        tag = key.split("/", 1)[1]
        return [resource.tags[tag]] if tag in resource.tags else None
    for name, value in request.context.items():
        if name.lower() == lowered:
            return [str(v) for v in _as_list(value)]
    return None


def _compare(operator: str, actual: str, expected: str) -> bool:
    if operator == "StringEquals":
        return actual == expected
    if operator == "StringLike":
        return _glob(expected, actual)
    if operator == "ArnLike":
        return _glob(expected, actual)
    if operator == "ArnEquals":
        return actual == expected
    raise NotImplementedError(f"condition operator {operator}")


def _condition_holds(
    block: Mapping[str, Mapping[str, Any]], request: Request, resource: Resource
) -> bool:
    for full_operator, keys in block.items():
        qualifier, _, operator = full_operator.rpartition(":")
        if_exists = operator.endswith("IfExists")
        operator = operator.removesuffix("IfExists")
        for key, expected in keys.items():
            wanted = [str(v) for v in _as_list(expected)]
            values = _key_values(key, request, resource)
            if operator == "Null":
                if (values is None) != (wanted[0].lower() == "true"):
                    return False
                continue
            if qualifier == "ForAllValues":
                if values and not all(
                    any(_compare(operator, v, w) for w in wanted) for v in values
                ):
                    return False
                continue
            if qualifier == "ForAnyValue":
                if not values or not any(_compare(operator, v, w) for v in values for w in wanted):
                    return False
                continue
            if qualifier:
                raise NotImplementedError(full_operator)
            if values is None:
                if if_exists:
                    continue
                return False
            if not any(_compare(operator, v, w) for v in values for w in wanted):
                return False
    return True


def _matches(statement: Mapping[str, Any], request: Request, resource: Resource) -> bool:
    if "NotAction" in statement or "NotResource" in statement:
        raise NotImplementedError("NotAction / NotResource")
    actions = _as_list(statement["Action"])
    if not any(_glob(a, request.action, case=False) for a in actions):
        return False
    if not any(_glob(r, resource.arn) for r in _as_list(statement["Resource"])):
        return False
    return _condition_holds(statement.get("Condition", {}), request, resource)


def allowed(statements: Sequence[Mapping[str, Any]], request: Request) -> bool:
    """Whether identity-policy ``statements`` allow ``request`` on every resource it names."""
    if not request.resources:
        raise ValueError("a request authorizes on at least one resource")
    for resource in request.resources:
        if any(s["Effect"] == "Deny" and _matches(s, request, resource) for s in statements):
            return False
        if not any(s["Effect"] == "Allow" and _matches(s, request, resource) for s in statements):
            return False
    return True


def trusted(
    trust_policy: Mapping[str, Any], principal_arn: str, context: Mapping[str, Any]
) -> bool:
    """Whether a role's trust policy lets ``principal_arn`` call sts:AssumeRole."""
    request = Request("sts:AssumeRole", [Resource("*")], context)
    for statement in trust_policy["Statement"]:
        principals = _as_list(statement.get("Principal", {}).get("AWS", []))
        if principal_arn not in principals:
            continue
        if (
            statement["Effect"] == "Allow"
            and _glob(str(statement["Action"]), "sts:AssumeRole", case=False)
            and _condition_holds(statement.get("Condition", {}), request, Resource("*"))
        ):
            return True
    return False
