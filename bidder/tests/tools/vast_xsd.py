#!/usr/bin/env python3
"""Checks VAST documents against the IAB's VAST 4.2 XSD.

Usage: vast_xsd.py SCHEMA FILE...

Adds the VAST namespace to a document without one (the schema requires
it; players do not). Prints each document's first errors and exits 1 if
any document is invalid. Needs the `xmlschema` package.
"""
import sys

import xmlschema


def main() -> int:
    schema = xmlschema.XMLSchema(sys.argv[1])
    bad = 0
    for path in sys.argv[2:]:
        with open(path, encoding="utf-8") as f:
            doc = f.read()
        if "xmlns=" not in doc[: doc.find(">", doc.find("<VAST")) + 1]:
            doc = doc.replace("<VAST", '<VAST xmlns="http://www.iab.com/VAST"', 1)
        errors = list(schema.iter_errors(doc))
        if errors:
            bad += 1
            print(f"{path}: invalid")
            for e in errors[:3]:
                print(f"    {e.path}: {e.reason}")
    print(f"{len(sys.argv) - 2 - bad} of {len(sys.argv) - 2} documents valid")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
