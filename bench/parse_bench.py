#!/usr/bin/env python
"""Throughput of parsing + template mining (and match-only matching): openstack-rca vs drain3, side by side.

Input: Loghub's OpenStack_2k.log (https://github.com/logpai/loghub) repeated to ~200k lines, each copy with its
digits and hex ids re-drawn (same structure, new values). Both sides read the same file and do the same job:
split the oslo header with a regex, mask variables with the same mask set, and mine templates.

  ours (stream):    openstack_rca.logs.iter_logs(file) + TemplateMiner.fit per chunk: full records (timestamps,
                    ids, services, ...) chunk by chunk, memory flat
  ours (in memory): openstack_rca.logs.read_logs(file, cache=False) + mine_templates: every record kept, as
                    `openstack-rca parse` does
  ours (match-only): templates learned from the file first (not timed), the miner reloaded from its JSON state as
                    a model folder holds it, then iter_logs + TemplateMiner.transform: the inference path
  drain3 (match-only): the same learning first, then HEADER_RE.match + drain3.TemplateMiner.match per line
  drain3: HEADER_RE.match per line + drain3.TemplateMiner.add_log_message, with our masks as its masking
          instructions, in its own throwaway virtualenv (drain3 pins cachetools 4.2.1, which mlflow cannot share).

Each run is a fresh process, best of --repeat runs. Peak RSS is measured per process at 100k and 200k lines:
the streaming path stays flat, the in-memory path grows with the records it keeps. The headline ratio is the
streaming path against drain3 (both keep nothing but the miner).
Writes bench/results/parse_bench.json; the templates notebook shows that file.
"""
import argparse, datetime, json, os, platform, random, re, subprocess, sys, tempfile, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from openstack_rca.logs import HEADER_RE, data_dir          # noqa: E402
from openstack_rca.templates import MASKS                    # noqa: E402

OURS = r'''
import json, resource, sys, time
from openstack_rca.logs import read_logs, iter_logs, ParseReport
from openstack_rca.templates import mine_templates, TemplateMiner
if sys.argv[2] == 'match':                    # the inference path: templates learned before (not timed), then
    miner = TemplateMiner()                  # parse + match-only assignment, as a trained model's analysis does
    for records, rep in iter_logs(sys.argv[1]): miner.fit(records['message'].tolist())
    miner = TemplateMiner.from_dict(miner.to_dict())          # as loaded from a model folder: no learning caches
t = time.perf_counter()
if sys.argv[2] == 'stream':
    miner, report = TemplateMiner(), ParseReport()
    for records, rep in iter_logs(sys.argv[1]):
        miner.fit(records['message'].tolist()); report.merge(rep)
elif sys.argv[2] == 'match':
    report, unseen = ParseReport(), 0
    for records, rep in iter_logs(sys.argv[1]):
        unseen += int((miner.transform(records['message'].tolist()) == 0).sum()); report.merge(rep)
else:
    records, report = read_logs(sys.argv[1], cache=False)
    out, miner = mine_templates(records)
dt = time.perf_counter() - t
print(json.dumps({'lines': report.lines, 'seconds': dt, 'templates': len(miner),
                  'unmatched': unseen if sys.argv[2] == 'match' else 0,
                  'miner_cache_entries': len(miner._keys) + len(miner._exact),
                  'peak_rss_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
'''

DRAIN = r'''
import json, re, resource, sys, time
from drain3 import TemplateMiner
from drain3.template_miner_config import TemplateMinerConfig
from drain3.masking import MaskingInstruction
spec = json.loads(open(sys.argv[2]).read())
cfg = TemplateMinerConfig()
cfg.masking_instructions = [MaskingInstruction(p, name) for name, p in spec['masks'].items()]
cfg.profiling_enabled = False
header = re.compile(spec['header'], re.S)
match_only = len(sys.argv) > 3 and sys.argv[3] == 'match'
if match_only:                               # learn first (not timed), then time parse + TemplateMiner.match
    tm = TemplateMiner(config=cfg)
    with open(sys.argv[1], encoding='utf-8') as f:
        for line in f:
            m = header.match(line.rstrip('\n'))
            if m is not None: tm.add_log_message(m.group('message') or '')
t = time.perf_counter()
n = unseen = 0
if not match_only: tm = TemplateMiner(config=cfg)
with open(sys.argv[1], encoding='utf-8') as f:
    for line in f:
        n += 1
        m = header.match(line.rstrip('\n'))
        if m is None: continue
        if match_only: unseen += tm.match(m.group('message') or '') is None
        else: tm.add_log_message(m.group('message') or '')
dt = time.perf_counter() - t
print(json.dumps({'lines': n, 'seconds': dt, 'templates': len(tm.drain.clusters), 'unmatched': unseen,
                  'peak_rss_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
'''


def make_input(src: Path, copies: int, out: Path, seed: int = 0) -> int:
    "OpenStack_2k repeated `copies` times; in each copy every digit and hex letter after the header is re-drawn."
    rng = random.Random(seed)
    lines = src.read_text(encoding='utf-8').splitlines()
    digit, hexl = '0123456789', 'abcdef'
    ctx_end = re.compile(r'\] |(?<=INFO|WARN|RROR) \S+ ')
    n = 0
    with out.open('w', encoding='utf-8') as f:
        for _ in range(copies):
            for line in lines:
                m = ctx_end.search(line, 60)
                cut = m.end() if m else len(line)
                body = ''.join(rng.choice(digit) if c.isdigit() else c for c in line[cut:])
                f.write(line[:cut] + body + '\n'); n += 1
    return n


def drain3_python(venv: Path) -> Path:
    py = venv / 'bin' / 'python'
    if not py.exists():
        print(f'creating throwaway venv for drain3 in {venv} ...', flush=True)
        subprocess.run([sys.executable, '-m', 'venv', str(venv)], check=True)
        subprocess.run([str(py), '-m', 'pip', 'install', '-q', 'drain3>=0.9.11,<0.10'], check=True)
    return py


def run(cmd, env=None) -> dict:
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def best(cmd, repeat, env=None) -> dict:
    runs = [run(cmd, env) for _ in range(repeat)]
    return min(runs, key=lambda r: r['seconds'])


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for l in open('/proc/cpuinfo'):
            if l.startswith('model name'): cpu = l.split(':', 1)[1].strip(); break
    except OSError: pass
    return f'{cpu}, {os.cpu_count()} cores, {platform.system()} {platform.release()}, Python {platform.python_version()}'


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--copies', type=int, default=100, help='copies of OpenStack_2k (100 = 200k lines)')
    ap.add_argument('--repeat', type=int, default=3, help='runs per side; the best counts')
    ap.add_argument('--venv', type=Path, default=ROOT / 'bench' / '.venv-drain3')
    ap.add_argument('--out', type=Path, default=ROOT / 'bench' / 'results' / 'parse_bench.json')
    a = ap.parse_args()
    lh = data_dir('loghub-openstack')
    if lh is None: sys.exit('benchmark data not found: set OPENSTACK_RCA_DATA to the folder holding loghub-openstack/')
    py = drain3_python(a.venv)
    drain_version = subprocess.run([str(py), '-c', 'import importlib.metadata as m; print(m.version("drain3"))'],
                                   capture_output=True, text=True, check=True).stdout.strip()
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        spec = d / 'spec.json'
        spec.write_text(json.dumps({'header': HEADER_RE.pattern,
                                    'masks': {k: r'(?<![\w.])(?:' + p + ')' for k, p in MASKS.items()}}))
        (d / 'ours.py').write_text(OURS); (d / 'drain.py').write_text(DRAIN)
        rows, sizes = [], {}
        for copies in (a.copies // 2, a.copies):
            f = d / f'openstack_{copies}.log'
            sizes[copies] = make_input(lh / 'OpenStack_2k.log', copies, f)
            print(f'{sizes[copies]:,} lines: running openstack-rca and drain3 {drain_version}, best of {a.repeat} ...',
                  flush=True)
            stream = best([sys.executable, str(d / 'ours.py'), str(f), 'stream'], a.repeat, env)
            memory = best([sys.executable, str(d / 'ours.py'), str(f), 'memory'], a.repeat, env)
            match = best([sys.executable, str(d / 'ours.py'), str(f), 'match'], a.repeat, env)
            drain = best([str(py), str(d / 'drain.py'), str(f), str(spec)], a.repeat)
            dmatch = best([str(py), str(d / 'drain.py'), str(f), str(spec), 'match'], a.repeat)
            for name, r in (('openstack-rca stream', stream), ('openstack-rca in memory', memory),
                            (f'drain3 {drain_version}', drain), ('openstack-rca match-only', match),
                            (f'drain3 {drain_version} match-only', dmatch)):
                rows.append({'tool': name, 'lines': r['lines'], 'seconds': round(r['seconds'], 3),
                             'lines_per_s': round(r['lines'] / r['seconds']), 'templates': r['templates'],
                             'unmatched': r.get('unmatched', 0), 'peak_rss_mb': round(r['peak_rss_mb'], 1),
                             'miner_cache_entries': r.get('miner_cache_entries')})
    full = {r['tool'].replace(f' {drain_version}', ''): r for r in rows if r['lines'] == sizes[a.copies]}
    half = {r['tool'].replace(f' {drain_version}', ''): r for r in rows if r['lines'] == sizes[a.copies // 2]}
    speed = lambda ours, theirs: full[ours]['lines_per_s'] / full[theirs]['lines_per_s']
    ratio, ratio_memory = speed('openstack-rca stream', 'drain3'), speed('openstack-rca in memory', 'drain3')
    ratio_match = speed('openstack-rca match-only', 'drain3 match-only')
    s_, m_, d_ = (half['openstack-rca stream'], full['openstack-rca stream']), \
        (half['openstack-rca in memory'], full['openstack-rca in memory']), (half['drain3'], full['drain3'])
    result = {'date': datetime.date.today().isoformat(), 'machine': machine(), 'lines': sizes[a.copies],
              'drain3_version': drain_version, 'ratio': round(ratio, 2), 'ratio_in_memory': round(ratio_memory, 2),
              'ratio_match_only': round(ratio_match, 2), 'runs': rows,
              'memory_note': (f"peak RSS {s_[0]['lines']:,} -> {s_[1]['lines']:,} lines: stream "
                              f"{s_[0]['peak_rss_mb']:.0f} -> {s_[1]['peak_rss_mb']:.0f} MB, in memory "
                              f"{m_[0]['peak_rss_mb']:.0f} -> {m_[1]['peak_rss_mb']:.0f} MB "
                              f"(records kept), drain3 {d_[0]['peak_rss_mb']:.0f} -> {d_[1]['peak_rss_mb']:.0f} MB; "
                              f"miner cache entries {s_[0]['miner_cache_entries']} -> {s_[1]['miner_cache_entries']}")}
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(result, indent=1) + '\n')
    w = max(len(r['tool']) for r in rows)
    print(f"\n{'tool':{w}}  {'lines':>8}  {'seconds':>8}  {'lines/s':>9}  {'templates':>9}  {'unmatched':>9}  "
          f"{'peak RSS MB':>11}")
    for r in rows:
        print(f"{r['tool']:{w}}  {r['lines']:>8,}  {r['seconds']:>8.2f}  {r['lines_per_s']:>9,}  {r['templates']:>9}  "
              f"{r['unmatched']:>9}  {r['peak_rss_mb']:>11.0f}")
    print(f"\nspeed-up at {sizes[a.copies]:,} lines: {ratio:.1f}x drain3 with masking streaming, "
          f"{ratio_memory:.1f}x keeping every record in memory (goal >= 5x); match-only (the inference path: parse + "
          f"templates learned before): {ratio_match:.1f}x drain3's match (goal >= 10x)")
    print(result['memory_note'])
    print(f'written to {a.out}')


if __name__ == '__main__':
    main()
