"""A PyYAML loader for CloudFormation templates: short-form intrinsics (!Ref, !Sub,
!GetAtt, ...) become their long form ({"Ref": ...}, {"Fn::Sub": ...}), as CloudFormation
reads them."""

from __future__ import annotations

from pathlib import Path

import yaml


class CfnLoader(yaml.SafeLoader):
    pass


def _construct(tag: str):
    key = "Ref" if tag == "Ref" else ("Condition" if tag == "Condition" else f"Fn::{tag}")

    def construct(loader: yaml.Loader, node: yaml.Node):
        if isinstance(node, yaml.ScalarNode):
            value = loader.construct_scalar(node)
            if tag == "GetAtt":
                value = value.split(".", 1)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)
        return {key: value}

    return construct


for _tag in ("Ref", "Condition", "Base64", "Cidr", "FindInMap", "GetAtt", "GetAZs",
             "ImportValue", "Join", "Select", "Split", "Sub", "Transform", "And", "Equals",
             "If", "Not", "Or", "ToJsonString", "Length"):
    CfnLoader.add_constructor(f"!{_tag}", _construct(_tag))


def load_template(path: Path | str) -> dict:
    with open(path, encoding="utf-8") as f:
        return yaml.load(f, Loader=CfnLoader)  # noqa: S506 - SafeLoader subclass
