#!/usr/bin/env python3
"""Extract the facts Trent's input validation needs from the botocore KMS model.

Reads the KMS service model that ships with the botocore installed on this machine
(``botocore/data/kms/2014-11-01/service-2.json`` or its ``.json.gz``) and writes
``src/api/model/kms-model.json``.

The output keeps only machine-checkable facts: for every operation, its input shape and
its modeled errors; for every shape reachable from an input, its type and constraints
(``required``, ``min``/``max``, ``pattern``, ``enum``, ``sensitive``) and how it is built
from other shapes. Documentation strings are dropped on purpose: the validator needs
none of them, and keeping AWS prose out of the tree keeps the file small and reviewable.

The generated file is committed so that builds and CI never depend on botocore; rerun
this script after upgrading botocore and review the diff:

    python3 tools/gen-kms-model.py            # writes src/api/model/kms-model.json
    python3 tools/gen-kms-model.py --check    # exits 1 if the committed file is stale
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import sys
from typing import Any

SERVICE_MODEL_RELATIVE_DIR = os.path.join("data", "kms", "2014-11-01")
OUTPUT_PATH = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
    "src", "api", "model", "kms-model.json",
)

# Shape facts copied through when present. Everything else (documentation, deprecation
# prose, exception/fault markers on output-only shapes) is irrelevant to input validation.
SCALAR_CONSTRAINT_KEYS = ("min", "max", "pattern", "sensitive")


def load_service_model() -> tuple[dict[str, Any], str, str]:
    """Returns (model, botocore version, model path relative to the botocore package)."""
    try:
        import botocore  # noqa: PLC0415 - imported late so --help works without botocore
    except ImportError:
        sys.exit("botocore is not installed; install it (pip install botocore) to regenerate the model")

    package_dir = os.path.dirname(botocore.__file__)
    model_dir = os.path.join(package_dir, SERVICE_MODEL_RELATIVE_DIR)
    plain_path = os.path.join(model_dir, "service-2.json")
    gzip_path = plain_path + ".gz"
    if os.path.exists(plain_path):
        with open(plain_path, "rb") as handle:
            model = json.load(handle)
        chosen = plain_path
    elif os.path.exists(gzip_path):
        with gzip.open(gzip_path, "rb") as handle:
            model = json.load(handle)
        chosen = gzip_path
    else:
        sys.exit(f"no KMS service model under {model_dir}")
    relative = os.path.relpath(chosen, os.path.dirname(package_dir)).replace(os.sep, "/")
    return model, botocore.__version__, relative


def describe_shape(shape: dict[str, Any]) -> dict[str, Any]:
    """The validation-relevant facts of one shape, with member references by shape name."""
    shape_type = shape["type"]
    out: dict[str, Any] = {"type": shape_type}
    for key in SCALAR_CONSTRAINT_KEYS:
        if key in shape:
            out[key] = shape[key]
    if "enum" in shape:
        out["enum"] = list(shape["enum"])
    if shape_type == "structure":
        if shape.get("required"):
            out["required"] = list(shape["required"])
        # Member order is kept as in the model: the validator reports problems in this order.
        out["members"] = {
            name: {"shape": member["shape"]} for name, member in shape.get("members", {}).items()
        }
    elif shape_type == "list":
        out["member"] = {"shape": shape["member"]["shape"]}
    elif shape_type == "map":
        out["key"] = {"shape": shape["key"]["shape"]}
        out["value"] = {"shape": shape["value"]["shape"]}
    return out


def referenced_shape_names(shape: dict[str, Any]) -> list[str]:
    shape_type = shape["type"]
    if shape_type == "structure":
        return [member["shape"] for member in shape.get("members", {}).values()]
    if shape_type == "list":
        return [shape["member"]["shape"]]
    if shape_type == "map":
        return [shape["key"]["shape"], shape["value"]["shape"]]
    return []


def build_output(model: dict[str, Any], botocore_version: str, model_file: str) -> dict[str, Any]:
    all_shapes: dict[str, Any] = model["shapes"]
    operations: dict[str, Any] = {}
    reachable: list[str] = []
    seen: set[str] = set()

    def visit(shape_name: str) -> None:
        # Iterative on purpose: the model could in principle contain recursive shapes.
        pending = [shape_name]
        while pending:
            name = pending.pop()
            if name in seen:
                continue
            seen.add(name)
            reachable.append(name)
            pending.extend(referenced_shape_names(all_shapes[name]))

    for operation_name in sorted(model["operations"]):
        operation = model["operations"][operation_name]
        entry: dict[str, Any] = {}
        if "input" in operation:
            entry["input"] = operation["input"]["shape"]
            visit(operation["input"]["shape"])
        entry["errors"] = [error["shape"] for error in operation.get("errors", [])]
        operations[operation_name] = entry

    metadata = model["metadata"]
    return {
        "source": {
            "generator": "tools/gen-kms-model.py",
            "botocoreVersion": botocore_version,
            "file": model_file,
            "apiVersion": metadata.get("apiVersion"),
        },
        "metadata": {
            "protocol": metadata.get("protocol"),
            "jsonVersion": metadata.get("jsonVersion"),
            "targetPrefix": metadata.get("targetPrefix"),
        },
        "operations": operations,
        "shapes": {name: describe_shape(all_shapes[name]) for name in sorted(reachable)},
    }


def render(output: dict[str, Any]) -> str:
    return json.dumps(output, indent=2, sort_keys=False, ensure_ascii=True) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="fail if the committed model differs")
    parser.add_argument("--output", default=OUTPUT_PATH, help="where to write (default: %(default)s)")
    args = parser.parse_args()

    model, version, model_file = load_service_model()
    text = render(build_output(model, version, model_file))

    if args.check:
        try:
            with open(args.output, encoding="utf-8") as handle:
                current = handle.read()
        except FileNotFoundError:
            current = ""
        if current != text:
            print(f"{args.output} is stale; rerun tools/gen-kms-model.py", file=sys.stderr)
            return 1
        return 0

    os.makedirs(os.path.dirname(args.output), exist_ok=True)
    with open(args.output, "w", encoding="utf-8") as handle:
        handle.write(text)
    print(f"wrote {args.output} ({len(model['operations'])} operations, botocore {version})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
