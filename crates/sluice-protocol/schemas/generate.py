#!/usr/bin/env python3
"""Regenerates requests.json: the request message schemas of Apache Kafka's clients jar, reduced
to what bounds checking needs (field names, types, versions, nullable and tagged versions, tags).

Usage: python3 generate.py [path/to/kafka-clients-X.jar]
(default: the newest kafka-clients jar in ~/.m2, which tests/java/build.sh fetches from Maven
Central). A released version of a message never changes, so the newest jar describes every
version older clients send.

The JSON schemas ship inside the jar as common/message/*Request.json (Apache License 2.0).
"""
import json
import re
import sys
import zipfile
from pathlib import Path

KEEP = ("name", "type", "versions", "nullableVersions", "taggedVersions", "tag", "fields")


def reduce_field(f: dict) -> dict:
    out = {k: f[k] for k in KEEP if k in f and k != "fields"}
    if "fields" in f:
        out["fields"] = [reduce_field(x) for x in f["fields"]]
    return out


def main() -> None:
    if len(sys.argv) > 1:
        jar = Path(sys.argv[1])
    else:
        base = Path.home() / ".m2/repository/org/apache/kafka/kafka-clients"
        jars = sorted(base.glob("*/kafka-clients-*[0-9].jar"),
                      key=lambda p: [int(x) for x in re.findall(r"\d+", p.parent.name)])
        if not jars:
            sys.exit(f"no kafka-clients jar under {base}: run tests/java/build.sh first")
        jar = jars[-1]
    messages = []
    with zipfile.ZipFile(jar) as z:
        for name in sorted(z.namelist()):
            if not re.fullmatch(r"common/message/\w+Request\.json", name):
                continue
            text = "\n".join(line for line in z.read(name).decode().splitlines()
                             if not line.lstrip().startswith("//"))
            spec = json.loads(text)
            if spec.get("type") != "request":
                continue
            messages.append({
                "apiKey": spec["apiKey"],
                "name": spec["name"],
                "validVersions": spec["validVersions"],
                "flexibleVersions": spec.get("flexibleVersions", "none"),
                "fields": [reduce_field(f) for f in spec.get("fields", [])],
                "commonStructs": [{"name": s["name"], "versions": s.get("versions", "0+"),
                                   "fields": [reduce_field(f) for f in s["fields"]]}
                                  for s in spec.get("commonStructs", [])],
            })
    messages.sort(key=lambda m: m["apiKey"])
    out = Path(__file__).with_name("requests.json")
    doc = {"source": jar.name, "messages": messages}
    out.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")
    print(f"{out}: {len(messages)} request schemas from {jar.name}")


if __name__ == "__main__":
    main()
