"""Read values back with a YAML 1.1 reader (PyYAML) and a YAML 1.2 reader (ruamel.yaml).

stdin: JSON list of {"file": path, "keys": [key, ...], "want": string}. Every value at
`keys` in `file` must read as exactly the string `want` with both readers: not a number,
bool, null or date, and not a different string. Prints one line per failure and exits 1
if there is any; prints "OK: N values" otherwise.
"""

import json
import sys

import yaml  # PyYAML: YAML 1.1 resolution (yes/no/on/off, 1_000, 1:20, 017)
from ruamel.yaml import YAML  # YAML 1.2 core schema (1e5, 0o17)

ruamel = YAML(typ="safe", pure=True)
readers = {
    "yaml1.1/PyYAML": lambda text: yaml.safe_load(text),
    "yaml1.2/ruamel": lambda text: ruamel.load(text),
}

checks = json.load(sys.stdin)
failures = []
cache = {}
for c in checks:
    text = open(c["file"], encoding="utf-8").read()
    for name, load in readers.items():
        key = (c["file"], name)
        if key not in cache:
            try:
                cache[key] = load(text)
            except Exception as e:  # a file that does not load is a failure too
                cache[key] = e
        doc = cache[key]
        if isinstance(doc, Exception):
            failures.append(f"{c['file']}: {name} cannot load it: {doc}")
            continue
        got = doc
        for k in c["keys"]:
            got = got[k]
        if not (type(got) is str and got == c["want"]):
            failures.append(
                f"{c['file']} {'.'.join(c['keys'])}: {name} reads {got!r} "
                f"({type(got).__name__}), want the string {c['want']!r}"
            )

for f in failures:
    print(f)
if failures:
    sys.exit(1)
print(f"OK: {len(checks)} values")
