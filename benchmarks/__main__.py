"""Run every benchmark module (or those named on the command line) and print its figures.

Figures are ratios against a baseline measured in the same process, because these machines are noisy.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
import sys
import time
from pathlib import Path


def main(argv: list[str]) -> int:
    here = Path(__file__).parent
    names = sorted(m.name for m in pkgutil.iter_modules([str(here)]) if m.name.startswith("bench_"))
    if argv:
        names = [n for n in names if any(a in n for a in argv)]
    results = {}
    for name in names:
        start = time.perf_counter()
        print(f"== {name}", flush=True)
        module = importlib.import_module(f"benchmarks.{name}")
        figures = module.run()
        figures["wall_s"] = round(time.perf_counter() - start, 1)
        for key, value in figures.items():
            print(f"   {key}: {value}")
        results[name] = figures
    out = Path("bench-results.json")
    out.write_text(json.dumps(results, indent=1, default=str))
    print(f"wrote {out.resolve()}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
