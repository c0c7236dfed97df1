#!/usr/bin/env python3
"""Turns hyperfine JSON exports (each a berth command first, then its peer) into a markdown table
with the berth/peer ratio."""
import json
import sys

print("| benchmark | berth mean ± σ | peer | peer mean ± σ | ratio (berth/peer) |")
print("| --- | --- | --- | --- | --- |")
for path in sys.argv[1:]:
    results = json.load(open(path))["results"]
    berth = results[0]
    for peer in results[1:]:
        r = berth["mean"] / peer["mean"]
        print(f"| {berth['command']} | {berth['mean']*1000:.1f} ms ± {berth['stddev']*1000:.1f} | "
              f"{peer['command']} | {peer['mean']*1000:.1f} ms ± {peer['stddev']*1000:.1f} | {r:.2f} |")
