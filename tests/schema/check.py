"""Every scenario in scenarios/ validates against `switchyard schema`, and a scenario with an
unknown field does not (so the schema really constrains what editors autocomplete).

Usage: python check.py SCHEMA_JSON SCENARIO_DIR
"""

import glob
import json
import sys

import jsonschema
import yaml

schema = json.load(open(sys.argv[1]))
files = sorted(glob.glob(sys.argv[2] + "/*.yaml"))
assert files, "no scenarios found"
for f in files:
    jsonschema.validate(yaml.safe_load(open(f)), schema)
    print("valid", f)
bad = yaml.safe_load(open(files[0]))
bad["tarffic"] = bad.pop("traffic")
try:
    jsonschema.validate(bad, schema)
except jsonschema.ValidationError:
    print("a misspelled field is refused")
else:
    raise SystemExit("the schema accepted a misspelled field")
