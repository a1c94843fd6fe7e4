"""Time ``aezoo.load(NAME)`` for every bundled pretrained model, in fresh processes.

    python benchmarks/load_time.py [--repeats 5]

Each repeat starts a new Python process with HF_HUB_OFFLINE=1 (no network), imports aezoo, then times
the first registry lookup (entry-point discovery) and ``aezoo.load(NAME)`` (sha256 check + strict
safetensors load). Prints medians as a markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

PROBE = """
import json, sys, time
t = time.perf_counter(); import aezoo; t_import = time.perf_counter() - t
t = time.perf_counter(); aezoo.list_models(pretrained=True); t_registry = time.perf_counter() - t
t = time.perf_counter(); aezoo.load(sys.argv[1]); t_load = time.perf_counter() - t
print(json.dumps({"import": t_import, "registry": t_registry, "load": t_load}))
"""


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args()
    import torch

    import aezoo
    from aezoo.io.pretrained import bundled_dirs
    from aezoo.training.outputs import hardware_name

    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    print(
        f"hardware: {hardware_name(torch.device('cpu'))}, torch {torch.__version__}, "
        f"{args.repeats} fresh processes each"
    )
    print("| model | size (MB) | import aezoo (s) | first registry lookup (s) | aezoo.load (s) |")
    print("|---|---:|---:|---:|---:|")
    for name in aezoo.list_models(pretrained=True):
        runs = [
            json.loads(
                subprocess.run(
                    [sys.executable, "-c", PROBE, name], env=env, check=True, capture_output=True, text=True
                ).stdout
            )
            for _ in range(args.repeats)
        ]
        size = os.path.getsize(bundled_dirs(name)[-1] / "model.safetensors") / 1e6
        med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
        print(f"| `{name}` | {size:.1f} | {med['import']:.3f} | {med['registry']:.3f} | {med['load']:.3f} |")


if __name__ == "__main__":
    main()
