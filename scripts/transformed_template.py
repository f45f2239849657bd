"""Write the SAM-transformed template, offline, with every condition taken as true.

Usage: python scripts/transformed_template.py template.yaml -o build/scan/transformed.json
(run with .venv-tools/bin/python: it needs aws-sam-translator and PyYAML; make scan).

Why: checkov reads ``template.yaml`` as written, so it checks AWS::Serverless::* resources
only through its SAM support, and skips any IAM statement hidden behind ``Fn::If``: the
statements that exist only when a parameter is set (the directory secret, the cross-account
role) were never checked. This script runs the SAM transform locally (no AWS call: local
code paths become placeholder S3 URIs, and no managed policy is looked up) and then
resolves every ``Fn::If`` to its first branch - the configured case - dropping
``AWS::NoValue``, so that checkov's IAM checks run on the function's role exactly as a
fully configured stack deploys it. ``Condition`` keys and the ``Conditions`` section go
too: every optional resource is present.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

import yaml

PLACEHOLDER_CODE = "s3://placeholder-bucket/code.zip"
NO_VALUE = {"Ref": "AWS::NoValue"}


class _CfnLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short tags (!Ref, !Sub, !If, ...) read as long forms."""


def _long_form(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = str(value).split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {"Ref" if suffix == "Ref" else f"Fn::{suffix}": value}


_CfnLoader.add_multi_constructor("!", _long_form)


class _NoManagedPolicies:
    """The transform asks for AWS managed policy ARNs by name; the template names none."""

    def load(self) -> dict[str, str]:
        return {}


def load(path: Path) -> dict[str, Any]:
    document = yaml.load(path.read_text(encoding="utf-8"), Loader=_CfnLoader)  # noqa: S506  # nosec B506 - SafeLoader subclass
    if not isinstance(document, dict) or "Resources" not in document:
        raise SystemExit(f"{path}: not a CloudFormation template (no Resources)")
    return document


def offline(document: dict[str, Any]) -> dict[str, Any]:
    """Local code locations become S3 URIs, as `sam package` would make them."""
    for resource in document["Resources"].values():
        properties = resource.get("Properties") or {}
        kind = resource.get("Type")
        if kind == "AWS::Serverless::Function" and "InlineCode" not in properties:
            properties["CodeUri"] = PLACEHOLDER_CODE
        elif kind == "AWS::Serverless::LayerVersion":
            properties["ContentUri"] = PLACEHOLDER_CODE
        elif kind == "AWS::Serverless::StateMachine" and isinstance(
            properties.get("DefinitionUri"), str
        ):
            properties["DefinitionUri"] = "s3://placeholder-bucket/statemachine.asl.json"
    (document.get("Globals", {}).get("Function") or {}).pop("CodeUri", None)
    return document


def take_first_branch(node: Any) -> Any:
    """Resolve every Fn::If to its first branch and drop AWS::NoValue."""
    if isinstance(node, dict):
        if set(node) == {"Fn::If"}:
            return take_first_branch(node["Fn::If"][1])
        return {key: take_first_branch(value) for key, value in node.items() if value != NO_VALUE}
    if isinstance(node, list):
        return [take_first_branch(item) for item in node if item != NO_VALUE]
    return node


def transformed(path: Path, region: str = "us-east-1") -> dict[str, Any]:
    # aws-sam-translator lives in .venv-tools only; the rest of this module needs PyYAML.
    from samtranslator.translator.transform import transform  # type: ignore[import-untyped]

    os.environ.setdefault("AWS_DEFAULT_REGION", region)
    document = offline(load(path))
    result: dict[str, Any] = transform(
        document, {"AWS::Region": region, "AWS::Partition": "aws"}, _NoManagedPolicies()
    )
    result.pop("Conditions", None)
    for resource in result["Resources"].values():
        resource.pop("Condition", None)  # the resource's own; statement conditions stay
    resolved: dict[str, Any] = take_first_branch(result)
    return resolved


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("template", type=Path)
    parser.add_argument("-o", "--output", type=Path, required=True)
    args = parser.parse_args(argv)
    try:
        document = transformed(args.template)
    except Exception as exc:  # the translator's errors carry the message a person needs
        print(f"{args.template}: SAM transform failed: {exc}", file=sys.stderr)
        return 1
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(document, indent=1, sort_keys=True), encoding="utf-8")
    roles = sorted(
        name
        for name, resource in document["Resources"].items()
        if resource.get("Type") == "AWS::IAM::Role"
    )
    print(f"{args.output}: {len(document['Resources'])} resources; roles: {', '.join(roles)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
