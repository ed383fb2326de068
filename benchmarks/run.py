"""Run every benchmarks/bench_*.py, print what each reports and append it to results.md.

Each benchmark is a script that prints a Markdown section on stdout. Run one alone with
``python benchmarks/run.py preprocess`` (names are matched against bench_NAME.py).
"""
from __future__ import annotations

import datetime as dt
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results.md"


def main(argv: list[str]) -> int:
    scripts = sorted(HERE.glob("bench_*.py"))
    if argv:
        scripts = [s for s in scripts if any(a in s.stem for a in argv)]
    stamp = dt.datetime.now().isoformat(timespec="seconds")
    header = f"\n# Run of {stamp} (Python {platform.python_version()}, {platform.machine()})\n"
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
    with RESULTS.open("a", encoding="utf-8") as fh:
        fh.write("\n".join(sections))
    print(f"Appended to {RESULTS}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
