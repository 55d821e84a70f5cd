#!/usr/bin/env python
"""Parsing a folder of many small log files against the same lines in one file (issue 12: within 3x).

Writes N small nova-compute files of 5 oslo.log lines each and one file holding all those lines, then times
`openstack-rca parse` on each in fresh processes (interpreter start included, parse cache off), best of --repeat.
The baseline printed beside the folder's time is the one file's: a ratio below the target (3.0) meets it.
Writes bench/results/small_files.json.
"""
import argparse, datetime, json, os, platform, subprocess, sys, tempfile, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
TARGET = 3.0
LINE = ('2017-05-16 00:00:{s:02d}.008 25746 INFO nova.compute.manager [req-38101a0b-2096-447d-96ea-a692162415ae '
        '113d3a99c3da401fbd62cc2caa5b96d2 54fadb412c4e40cdbaed9335e4c35a9e - - -] '
        '[instance: 3edec1e4-9678-4a3a-a21b-a145a4ee5e61] Terminating instance {i}\n')


def timed(args, repeat: int) -> float:
    best = float('inf')
    for _ in range(repeat):
        t = time.perf_counter()
        subprocess.run([str(BIN / 'openstack-rca'), *map(str, args)], check=True, capture_output=True)
        best = min(best, time.perf_counter() - t)
    return best


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--files', type=int, default=20_000)
    ap.add_argument('--repeat', type=int, default=2)
    ap.add_argument('--out', default=str(ROOT / 'bench' / 'results' / 'small_files.json'))
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        many, one = Path(d) / 'many', Path(d) / 'one'
        many.mkdir(); one.mkdir()
        with open(one / 'nova-compute.log', 'w') as whole:
            for f in range(a.files):
                text = ''.join(LINE.format(s=i, i=f * 5 + i) for i in range(5))
                (many / f'nova-compute-{f}.log').write_text(text)
                whole.write(text)
        t_one = timed(['parse', one, '--out', Path(d) / 'one.csv', '--quiet', '--no-cache'], a.repeat)
        t_many = timed(['parse', many, '--out', Path(d) / 'many.csv', '--quiet', '--no-cache'], a.repeat)
    ratio = t_many / t_one
    print(f'{a.files} files of 5 lines: {t_many:.2f} s; the same {5 * a.files} lines in one file: {t_one:.2f} s; '
          f'ratio {ratio:.2f} (target <= {TARGET})')
    out = {'date': datetime.date.today().isoformat(), 'machine': f'{platform.machine()}, {os.cpu_count()} cores',
           'python': platform.python_version(), 'files': a.files, 'lines': 5 * a.files,
           'seconds_many': round(t_many, 3),
           'seconds_one': round(t_one, 3), 'ratio': round(ratio, 3), 'target_ratio': TARGET}
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(out, indent=1))
    return 0


if __name__ == '__main__':
    sys.exit(main())
