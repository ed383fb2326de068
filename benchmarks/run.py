"""Run the benchmarks of issue 8, print what each reports and append it to results.md.

Each benchmark is a script that prints a Markdown section on stdout. ``make bench`` runs
:data:`DEFAULT` in that order (bench_topics.py reuses the store and `topics` run that
bench_pipeline.py leaves in the cache). Run others, or one alone, by name:
``python benchmarks/run.py preprocess`` (names are matched against bench_NAME.py);
bench_classify.py (classifier internals, writes results_classify.md) runs only when named.
"""
from __future__ import annotations

import datetime as dt
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results.md"
DEFAULT = ("pipeline", "preprocess", "topics")


def main(argv: list[str]) -> int:
    names = argv or list(DEFAULT)
    scripts = [s for n in names for s in sorted(HERE.glob("bench_*.py")) if n in s.stem]
    scripts = list(dict.fromkeys(scripts))
    stamp = dt.datetime.now().isoformat(timespec="seconds")
    load = os.getloadavg()
    header = (f"\n# Run of {stamp} (Python {platform.python_version()}, {platform.machine()}, {os.cpu_count()} CPUs, "
              f"load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} at the start)\n")
    t_all = time.perf_counter()
    print(header)
    sections = [header]
    failed = 0
    for script in scripts:
        start = time.perf_counter()
        res = subprocess.run([sys.executable, str(script)], capture_output=True, text=True)
        took = time.perf_counter() - start
        if res.returncode != 0:
            failed += 1
            tail = "\n".join(res.stderr.strip().splitlines()[-5:])
            text = f"## {script.name}: FAILED after {took:.0f} s\n\n```\n{tail}\n```\n"
        else:
            text = res.stdout.rstrip() + f"\n\n_{script.name}: {took:.0f} s_\n"
        print(text)
        sections.append(text)
    total = (f"_Whole run: {time.perf_counter() - t_all:.0f} s; load average at the end "
             f"{os.getloadavg()[0]:.1f}._\n")
    print(total)
    sections.append(total)
    with RESULTS.open("a", encoding="utf-8") as fh:
        fh.write("\n".join(sections))
    print(f"Appended to {RESULTS}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
