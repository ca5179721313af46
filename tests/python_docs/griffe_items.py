"""Print the items griffe (static analysis, no inspection) finds in a package.

Usage: griffe_items.py SEARCH_DIR PACKAGE

One JSON object per line: {"kind", "path", "documented", "public", "labels"}
for every module, class, function (methods included) and attribute, aliases
(imports) left out. `kind` is griffe's; a function whose parent is a class
is reported as `method`, one labelled `property` as `property`, so the
kinds line up with generate_docs.
"""

import json
import sys

import griffe


def walk(obj, out):
    for member in obj.members.values():
        if member.is_alias:
            continue
        kind = member.kind.value
        if kind == "function":
            if "property" in member.labels:
                kind = "property"
            elif member.parent is not None and member.parent.kind.value == "class":
                kind = "method"
        out.append(
            {
                "kind": kind,
                "path": member.path,
                "documented": bool(member.docstring and member.docstring.value.strip()),
                "public": bool(member.is_public),
                "labels": sorted(member.labels),
            }
        )
        if kind in ("module", "class"):
            walk(member, out)


def main():
    search, package = sys.argv[1], sys.argv[2]
    loader = griffe.GriffeLoader(search_paths=[search], allow_inspection=False)
    root = loader.load(package)
    out = [
        {
            "kind": "module",
            "path": root.path,
            "documented": bool(root.docstring and root.docstring.value.strip()),
            "public": True,
            "labels": [],
        }
    ]
    walk(root, out)
    for item in out:
        print(json.dumps(item))


if __name__ == "__main__":
    main()
