#!/usr/bin/env python
"""Scale-out: `openstack-rca parse` and `analyze` on 1 M and 10 M oslo.log lines spread over 50 hosts, one process
against `--engine dask` on a LocalCluster (2 workers here), side by side.

Input: the simulator (`openstack-rca simulate`, `--bases` seeds of `--hours` simulated hours each) written as a
support bundle, `<host>/var/log/<project>/<service>.log`, each host holding one base run with its own timestamps
shifted, until the bundle holds `--lines` lines (`gen`). Figures (`run`), per input size:
  - parse: one process (`parse --stream`: flat memory, the same table) vs `parse --engine dask --workers 2`:
    wall seconds, lines/s, the ratio (goal: dask >= 1.7x), peak RSS of the client and of the largest worker (goal: a
    worker <= 1.5 GB at any size, flat from 1 M to 10 M);
  - analyze --fast: one process vs --engine dask: seconds to the report (sizes up to --analyze-max-lines; the records
    of the window are held by the client either way).
Every run starts with an empty parse cache (cold).
Peak RSS is sampled every 0.2 s over the process and all its children (Dask's nanny and worker processes).
Writes bench/results/scale_bench.json.

    python bench/scale_bench.py gen --lines 10000000 --hosts 50 --out /tmp/bundle10m
    python bench/scale_bench.py run /tmp/bundle1m /tmp/bundle10m
"""
import argparse, datetime, json, os, platform, re, shutil, subprocess, sys, tempfile, time
from pathlib import Path
import psutil

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
GOAL_SPEEDUP, GOAL_WORKER_MB = 1.7, 1536
STAMP = re.compile(rb'^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)', re.M)


def gen(a):
    out = Path(a.out)
    if out.exists(): sys.exit(f'{out} exists: give a new folder')
    with tempfile.TemporaryDirectory() as tmp:
        bases = []
        for i in range(a.bases):
            d = Path(tmp) / f'base{i}'
            subprocess.run([BIN / 'openstack-rca', 'simulate', '--out', d, '--seed', str(100 + i), '--minutes',
                            str(a.hours * 60), '--distractors', '3'], check=True, stdout=subprocess.DEVNULL)
            bases.append({f.name: f.read_bytes() for f in d.glob('*.log')})
        per_host = sum(b.count(b'\n') for b in bases[0].values())
        lines, h = 0, 0
        while lines < a.lines:
            host = f'{"ctl" if h % 5 == 0 else "cmp"}{h:03d}'
            base = bases[h % len(bases)]
            shift = h // len(bases)                  # hosts sharing a base run are an hour apart per share
            for name, data in base.items():
                if shift: data = STAMP.sub(lambda m: _shift(m.group(1), shift), data)
                f = out / host / 'var' / 'log' / re.split(r'[-.]', name)[0] / name
                f.parent.mkdir(parents=True, exist_ok=True)
                f.write_bytes(data)
                lines += data.count(b'\n')
            h += 1
            if h % 10 == 0: print(f'{h} hosts, {lines:,} lines', file=sys.stderr)
    print(f'{out}: {h} hosts, {lines:,} lines, {sum(f.stat().st_size for f in out.rglob("*.log")) / 2**30:.2f} GiB '
          f'(base runs of {per_host:,} lines)')


def _shift(stamp: bytes, hours: int) -> bytes:
    t = datetime.datetime.strptime(stamp.decode(), '%Y-%m-%d %H:%M:%S') + datetime.timedelta(hours=hours)
    return t.strftime('%Y-%m-%d %H:%M:%S').encode()


def measure(args, cwd) -> dict:
    """Wall seconds, peak RSS of the process and of its largest child, of one `openstack-rca ARGS` run with an empty
    parse cache (cold: the logs are read and parsed)."""
    cache = Path(tempfile.mkdtemp(prefix='cache-', dir=cwd))
    t = time.perf_counter()
    p = subprocess.Popen([BIN / 'openstack-rca', *map(str, args)], cwd=cwd, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, env={**os.environ, 'OPENSTACK_RCA_CACHE': str(cache)})
    proc, peak, child_peak = psutil.Process(p.pid), 0, 0
    while p.poll() is None:
        try:
            peak = max(peak, proc.memory_info().rss)
            for c in proc.children(recursive=True):
                try: child_peak = max(child_peak, c.memory_info().rss)
                except psutil.Error: pass
        except psutil.Error: pass
        time.sleep(0.2)
    out, err = p.communicate()
    shutil.rmtree(cache, ignore_errors=True)
    if p.returncode: sys.exit(f'{args[0]} failed ({p.returncode}): {err[-2000:]}')
    return {'seconds': round(time.perf_counter() - t, 1), 'rss_mb': round(peak / 2**20),
            'largest_child_mb': round(child_peak / 2**20)}


def run(a):
    results, tmp = [], Path(tempfile.mkdtemp(prefix='scale-bench-'))
    try:
        for bundle in map(Path, a.bundles):
            lines = sum(sum(1 for _ in open(f, 'rb')) for f in bundle.rglob('*.log'))
            row = {'input': str(bundle), 'lines': lines, 'hosts': len([d for d in bundle.iterdir() if d.is_dir()])}
            one = measure(['parse', bundle, '--out', tmp / 'one.parquet', '--stream', '--quiet'], tmp)
            dsk = measure(['parse', bundle, '--out', tmp / 'dask.parquet', '--engine', 'dask', '--workers', '2',
                           '--quiet'], tmp)
            row['parse'] = {'one_process': one, 'dask': dsk, 'speedup': round(one['seconds'] / dsk['seconds'], 2),
                            'lines_per_s': {'one_process': round(lines / one['seconds']),
                                            'dask': round(lines / dsk['seconds'])}}
            if lines <= a.analyze_max_lines:
                issue = ['--issue', 'instances fail to boot and go to ERROR', '--fast', '--no-mlflow', '--format',
                         'json']
                one = measure(['analyze', '--logs', bundle, *issue], tmp)
                dsk = measure(['analyze', '--logs', bundle, *issue, '--engine', 'dask', '--workers', '2'], tmp)
                row['analyze_fast'] = {'one_process': one, 'dask': dsk,
                                       'speedup': round(one['seconds'] / dsk['seconds'], 2)}
            results.append(row)
            p = row['parse']
            print(f"{lines:>11,} lines  parse: one process {p['one_process']['seconds']:7.1f} s "
                  f"({p['lines_per_s']['one_process']:,}/s, {p['one_process']['rss_mb']} MB) | dask "
                  f"{p['dask']['seconds']:7.1f} s ({p['lines_per_s']['dask']:,}/s, client {p['dask']['rss_mb']} MB, "
                  f"worker <= {p['dask']['largest_child_mb']} MB) | speedup {p['speedup']:.2f}x (goal "
                  f"{GOAL_SPEEDUP}x), worker memory {p['dask']['largest_child_mb'] / GOAL_WORKER_MB:.2f} of the goal")
            if 'analyze_fast' in row:
                z = row['analyze_fast']
                print(f"{'':>11}        analyze --fast: one process {z['one_process']['seconds']:.1f} s "
                      f"({z['one_process']['rss_mb']} MB) | dask {z['dask']['seconds']:.1f} s (client "
                      f"{z['dask']['rss_mb']} MB) | speedup {z['speedup']:.2f}x")
    finally: shutil.rmtree(tmp, ignore_errors=True)
    doc = {'date': datetime.date.today().isoformat(), 'machine': f'{platform.machine()}, {os.cpu_count()} cores, '
           f'{psutil.virtual_memory().total / 2**30:.0f} GiB', 'goals': {'speedup': GOAL_SPEEDUP,
           'worker_mb': GOAL_WORKER_MB}, 'results': results}
    (ROOT / 'bench' / 'results').mkdir(exist_ok=True)
    (ROOT / 'bench' / 'results' / 'scale_bench.json').write_text(json.dumps(doc, indent=1) + '\n')


if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    sub = ap.add_subparsers(dest='cmd', required=True)
    g = sub.add_parser('gen', help='write a bundle of simulated hosts')
    g.add_argument('--lines', type=int, default=1_000_000); g.add_argument('--hosts', type=int, default=50)
    g.add_argument('--bases', type=int, default=5, help='distinct simulator runs (seeds)')
    g.add_argument('--hours', type=float, default=None, help='simulated hours per base run (default: lines/hosts)')
    g.add_argument('--out', required=True)
    r = sub.add_parser('run', help='measure parse and analyze on bundles written by gen')
    r.add_argument('bundles', nargs='+'); r.add_argument('--analyze-max-lines', type=int, default=2_000_000)
    a = ap.parse_args()
    if a.cmd == 'gen' and a.hours is None: a.hours = max(1.0, a.lines / a.hosts / 5000)
    gen(a) if a.cmd == 'gen' else run(a)
