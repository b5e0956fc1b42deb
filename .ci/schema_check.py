"""Validates JSON documents against the archive's JSON Schema with python-jsonschema (draft
2020-12, format checking on), as .ci/run's schema step does beside ajv.

    python3 .ci/schema_check.py SCHEMA DOCUMENT...

Exits 1 when the schema is not a valid draft 2020-12 schema or a document does not match it.
"""

import importlib.metadata
import json
import sys

import jsonschema

schema_path, documents = sys.argv[1], sys.argv[2:]
with open(schema_path, encoding="utf-8") as f:
    schema = json.load(f)
jsonschema.Draft202012Validator.check_schema(schema)
validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
# date-time is only checked with rfc3339-validator installed: make sure it is.
assert "date-time" in validator.format_checker.checkers, "install rfc3339-validator for date-time"
failed = 0
for path in documents:
    with open(path, encoding="utf-8") as f:
        document = json.load(f)
    errors = sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))
    for error in errors[:5]:
        print(f"{path}: /{'/'.join(map(str, error.absolute_path))}: {error.message}")
    failed += bool(errors)
print(f"python-jsonschema {importlib.metadata.version('jsonschema')}: {len(documents)} document(s), {failed} invalid")
sys.exit(1 if failed or not documents else 0)
