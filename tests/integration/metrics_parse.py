#!/usr/bin/python3
"""Parse a Prometheus text exposition (stdin) with the reference parser.

test_metrics.c runs it on what fairpayd's /metrics answered. Prints one line
per family, "TYPE <family> <type>", then one per sample,
'<name>{<label>="<value>",...} <value>' with the labels sorted by name, so the
test can look samples up by text. Exits non-zero when the text does not
parse (the parser raises on anything malformed).
"""
import sys

from prometheus_client.parser import text_string_to_metric_families


def main():
    text = sys.stdin.read()
    for family in text_string_to_metric_families(text):
        print(f"TYPE {family.name} {family.type}")
        for s in family.samples:
            labels = ",".join(
                '{}="{}"'.format(k, v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n"))
                for k, v in sorted(s.labels.items()))
            print(f"{s.name}{{{labels}}} {s.value!r}")


if __name__ == "__main__":
    main()
