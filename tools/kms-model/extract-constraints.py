#!/usr/bin/env python3
"""Extract the KMS model's constraints from botocore into tools/kms-model/constraints.json.

Why this exists: the newest AWS KMS model available offline is the one inside the
``@aws-sdk/client-kms`` npm package (tools/gen-kms-model.mjs reads it), but the AWS SDK
for JavaScript strips validation traits from its schemas: it keeps operations, members,
types, required members and enum values, and drops lengths, ranges and patterns. Those
come from botocore's copy of the same Smithy model, which keeps them. This script takes,
once per botocore upgrade, what the npm model lacks:

- ``memberShapes``: for each structure member whose type is a plain string, blob, number,
  list or map, the name of its botocore shape (``EncryptRequest.KeyId`` -> ``KeyIdType``);
- ``shapes``: those shapes' constraints (``min``/``max``, ``pattern``, ``sensitive``) and
  how lists and maps are built;
- ``order``: the order of each structure's members and each enum's values, which AWS's
  validation messages follow (the npm schemas list required members first and enum
  values sorted).

Members the npm model has and botocore does not are described by hand in the
``additions`` section of constraints.json, each with its source; this script keeps that
section as it is. Run it after upgrading botocore (moto brings it) and review the diff:

    python3 tools/kms-model/extract-constraints.py
"""

from __future__ import annotations

import gzip
import json
import os
import sys

import botocore

HERE = os.path.dirname(os.path.abspath(__file__))
OUTPUT_PATH = os.path.join(HERE, "constraints.json")
SERVICE_DIR = os.path.join(os.path.dirname(botocore.__file__), "data", "kms", "2014-11-01")
CONSTRAINT_KEYS = ("min", "max", "pattern", "sensitive")


def load_service_model() -> dict:
    for name, opener in (("service-2.json", open), ("service-2.json.gz", gzip.open)):
        path = os.path.join(SERVICE_DIR, name)
        if os.path.exists(path):
            with opener(path, "rt", encoding="utf-8") as handle:
                return json.load(handle)
    sys.exit(f"no KMS service model under {SERVICE_DIR}")


def simple_shape(shape: dict) -> dict:
    """The facts of a non-structure shape that validation needs (enum values come from npm)."""
    kept = {"type": shape["type"]}
    for key in CONSTRAINT_KEYS:
        if key in shape:
            kept[key] = shape[key]
    if shape["type"] == "list":
        kept["member"] = shape["member"]["shape"]
    if shape["type"] == "map":
        kept["key"] = shape["key"]["shape"]
        kept["value"] = shape["value"]["shape"]
    return kept


def main() -> None:
    model = load_service_model()
    shapes = model["shapes"]
    member_shapes: dict[str, str] = {}
    wanted: set[str] = set()
    for name, shape in shapes.items():
        if shape["type"] != "structure":
            continue
        for member, ref in shape.get("members", {}).items():
            target = shapes[ref["shape"]]
            if target["type"] == "structure":
                continue
            member_shapes[f"{name}.{member}"] = ref["shape"]
            wanted.add(ref["shape"])
    # Lists and maps name further shapes.
    pending = list(wanted)
    while pending:
        shape = shapes[pending.pop()]
        for ref in (shape.get("member"), shape.get("key"), shape.get("value")):
            if ref is not None and ref["shape"] not in wanted and shapes[ref["shape"]]["type"] != "structure":
                wanted.add(ref["shape"])
                pending.append(ref["shape"])
    previous = {}
    if os.path.exists(OUTPUT_PATH):
        with open(OUTPUT_PATH, encoding="utf-8") as handle:
            previous = json.load(handle)
    order = {}
    for name, shape in shapes.items():
        if shape["type"] == "structure":
            order[name] = list(shape.get("members", {}))
        elif "enum" in shape:
            order[name] = list(shape["enum"])
    output = {
        "source": {
            "generator": "tools/kms-model/extract-constraints.py",
            "botocoreVersion": botocore.__version__,
            "file": "botocore/data/kms/2014-11-01/service-2.json.gz",
        },
        "memberShapes": dict(sorted(member_shapes.items())),
        "shapes": {name: simple_shape(shapes[name]) for name in sorted(wanted)},
        "order": dict(sorted(order.items())),
        "additions": previous.get("additions", {"memberShapes": {}, "shapes": {}, "sources": {}}),
    }
    with open(OUTPUT_PATH, "w", encoding="utf-8") as handle:
        json.dump(output, handle, indent=2)
        handle.write("\n")
    print(f"wrote {OUTPUT_PATH}: {len(member_shapes)} members, {len(wanted)} shapes")


if __name__ == "__main__":
    main()
