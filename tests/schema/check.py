"""Schemas shipped in schemas/: every scenario validates against scenario.schema.json (and a
misspelled field is refused), every report.json under REPORTS validates against
report.schema.json, the live configs (scenarios/routers/live.yaml, docs/examples/gateway.yaml)
against live.schema.json and every fake provider profile against profile.schema.json.

Usage: python check.py SCHEMA_DIR SCENARIO_DIR REPORTS_DIR
"""

import glob
import json
import sys

import jsonschema
import yaml


class Loader(yaml.SafeLoader):
    """YAML as Switchyard reads it: a date such as 2026-09-01 stays a string."""


Loader.yaml_implicit_resolvers = {
    k: [(tag, regexp) for tag, regexp in v if tag != "tag:yaml.org,2002:timestamp"]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def check(files, schema, what):
    assert files, "no %s found" % what
    for f in files:
        try:
            jsonschema.validate(yaml.load(open(f), Loader=Loader), schema)
        except jsonschema.ValidationError as e:
            raise SystemExit("%s: %s at %s" % (f, e.message, "/".join(map(str, e.absolute_path))))
    print("%s valid: %d" % (what, len(files)))

schemas, scenarios, reports = sys.argv[1:4]
scenario_schema = json.load(open(schemas + "/scenario.schema.json"))
report_schema = json.load(open(schemas + "/report.schema.json"))

files = sorted(glob.glob(scenarios + "/*.yaml"))
assert files, "no scenarios found"
for f in files:
    try:
        jsonschema.validate(yaml.safe_load(open(f)), scenario_schema)
    except jsonschema.ValidationError as e:
        raise SystemExit("%s: %s at %s" % (f, e.message, "/".join(map(str, e.absolute_path))))
print("scenarios valid:", len(files))
bad = yaml.safe_load(open(files[0]))
bad["tarffic"] = bad.pop("traffic")
try:
    jsonschema.validate(bad, scenario_schema)
except jsonschema.ValidationError:
    print("a misspelled scenario field is refused")
else:
    raise SystemExit("the scenario schema accepted a misspelled field")

found = sorted(glob.glob(reports + "/**/report.json", recursive=True))
assert found, "no reports found"
for f in found:
    try:
        jsonschema.validate(json.load(open(f)), report_schema)
    except jsonschema.ValidationError as e:
        raise SystemExit("%s: %s at %s" % (f, e.message, "/".join(map(str, e.absolute_path))))
print("reports valid:", len(found))

live_schema = json.load(open(schemas + "/live.schema.json"))
check(["scenarios/routers/live.yaml", "docs/examples/gateway.yaml"], live_schema, "live configs")
profile_schema = json.load(open(schemas + "/profile.schema.json"))
check(
    sorted(glob.glob("fake-providers/*.yaml") + glob.glob("scenarios/profiles/*.yaml")),
    profile_schema,
    "profiles",
)
