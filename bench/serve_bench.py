#!/usr/bin/env python
"""`openstack-rca serve` under load: N concurrent POST /api/v1/analyses of a 30-minute simulated incident.

Targets (issue 13), on 2 cores: every analysis completes and none is lost; GET endpoints p95 <= 50 ms under that load;
the server's memory (its process tree's peak RSS) stays under 2 GB. The baseline printed beside the throughput is the
CLI doing the same work: one fresh `openstack-rca analyze --fast` process per analysis, run one after another.
Tracking is off (--no-mlflow) on both sides so the comparison is the analysis itself.
Writes bench/results/serve_bench.json.
"""
import argparse, base64, datetime, json, os, platform, statistics, subprocess, sys, tempfile, threading, time
import urllib.error, urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
GET_P95_MS, MEMORY_MB = 50, 2048
sys.path.insert(0, str(ROOT / 'tests'))
from helpers import clean_env, free_port  # noqa: E402


def http(url, body=None, auth=None):
    "(status, JSON, seconds) of one request."
    req = urllib.request.Request(url, data=json.dumps(body).encode() if body is not None else None,
                                 headers={'Content-Type': 'application/json'} if body is not None else {})
    if auth: req.add_header('Authorization', 'Basic ' + base64.b64encode(auth.encode()).decode())
    t = time.perf_counter()
    try:
        with urllib.request.urlopen(req, timeout=600) as r: out = r.status, json.loads(r.read())
    except urllib.error.HTTPError as e: out = e.code, json.loads(e.read() or b'null')
    return (*out, time.perf_counter() - t)


def tree_rss_mb(pid) -> float:
    import psutil
    try:
        p = psutil.Process(pid)
        return sum(x.memory_info().rss for x in [p, *p.children(recursive=True)]) / 2 ** 20
    except psutil.Error: return 0.0


def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--analyses', type=int, default=20)
    ap.add_argument('--workers', type=int, default=2)
    ap.add_argument('--minutes', type=float, default=30)
    a = ap.parse_args()
    rca = str(BIN / 'openstack-rca')
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        env = clean_env(OPENSTACK_RCA_CACHE=str(d / 'cache'))
        subprocess.run([rca, 'simulate', '--out', d / 'logs' / 'incident', '--seed', '21', '--minutes', str(a.minutes),
                        '--fault', 'network'], env=env, check=True, capture_output=True)
        issue = json.loads((d / 'logs' / 'incident' / 'labels.json').read_text())['incidents'][0]['issue']
        lines = sum(1 for f in (d / 'logs' / 'incident').glob('*.log') for _ in open(f))
        subprocess.run([rca, 'serve', '--add-user', 'bench', '--password-stdin', '--credentials', d / 'users'],
                       input='bench-password\n', text=True, env=env, check=True, capture_output=True)

        print(f'CLI baseline: {a.analyses} x `openstack-rca analyze --fast` on {lines:,} lines, one after another ...',
              flush=True)
        t = time.perf_counter()
        for _ in range(a.analyses):
            subprocess.run([rca, 'analyze', '--logs', d / 'logs' / 'incident', '--issue', issue, '--fast',
                            '--no-mlflow', '--format', 'json'], env=env, check=True, capture_output=True)
        cli_s = time.perf_counter() - t

        port = free_port()
        base = f'http://127.0.0.1:{port}'
        srv = subprocess.Popen([rca, 'serve', '--port', str(port), '--logs-root', d / 'logs', '--credentials',
                                d / 'users', '--state', d / 'state', '--no-mlflow', '--quiet', '--workers',
                                str(a.workers), '--max-queued', str(a.analyses * 2)], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            for _ in range(240):
                try:
                    if http(f'{base}/health')[0] == 200: break
                except OSError: time.sleep(0.25)
            print(f'server: {a.analyses} concurrent POST /api/v1/analyses, {a.workers} worker(s) ...', flush=True)
            peak, stop = [tree_rss_mb(srv.pid)], threading.Event()

            def watch():
                while not stop.is_set(): peak.append(tree_rss_mb(srv.pid)); time.sleep(0.2)
            threading.Thread(target=watch, daemon=True).start()
            ids, submitted, errors = [None] * a.analyses, [0.0] * a.analyses, []

            def post(i):
                code, r, _ = http(f'{base}/api/v1/analyses', {'issue': issue, 'logs': 'incident'}, 'bench:bench-password')
                submitted[i] = time.perf_counter()
                if code == 202: ids[i] = r['id']
                else: errors.append(f'{code} {r}')
            t0 = time.perf_counter()
            posts = [threading.Thread(target=post, args=(i,)) for i in range(a.analyses)]
            [p.start() for p in posts]; [p.join() for p in posts]
            done, gets, latency = {}, [], {}
            while len(done) + len(errors) < a.analyses and time.perf_counter() - t0 < 1800:
                for i, aid in enumerate(ids):
                    if aid is None or aid in done: continue
                    code, r, s = http(f'{base}/api/v1/analyses/{aid}')
                    gets.append(s)
                    if r['status'] in ('done', 'failed'):
                        done[aid] = r['status']; latency[aid] = time.perf_counter() - t0
                gets.append(http(f'{base}/api/v1/version')[2])
                time.sleep(0.2)
            wall = time.perf_counter() - t0
            stop.set()
        finally:
            srv.terminate(); srv.wait(timeout=30)
    completed = sum(1 for s in done.values() if s == 'done')
    lat = list(latency.values())
    res = {'date': datetime.date.today().isoformat(),
           'machine': f'{platform.processor() or platform.machine()}, {os.cpu_count()} cores',
           'python': platform.python_version(), 'lines': lines, 'analyses': a.analyses, 'workers': a.workers,
           'completed': completed, 'failed_or_lost': a.analyses - completed, 'errors': errors[:5],
           'server_seconds': round(wall, 2), 'cli_seconds': round(cli_s, 2),
           'throughput_per_min': round(completed / wall * 60, 2), 'cli_throughput_per_min': round(a.analyses / cli_s * 60, 2),
           'latency_p50_s': round(statistics.median(lat), 2) if lat else None,
           'latency_p95_s': round(pct(lat, 0.95), 2) if lat else None,
           'get_p95_ms': round(pct(gets, 0.95) * 1000, 1) if gets else None, 'get_requests': len(gets),
           'peak_rss_mb': round(max(peak)),
           'targets': {'get_p95_ms': GET_P95_MS, 'peak_rss_mb': MEMORY_MB}}
    print(f"completed {completed}/{a.analyses} (lost {res['failed_or_lost']}); analysis latency p50 "
          f"{res['latency_p50_s']} s, p95 {res['latency_p95_s']} s")
    print(f"throughput {res['throughput_per_min']}/min vs the CLI's {res['cli_throughput_per_min']}/min "
          f"(ratio {res['throughput_per_min'] / res['cli_throughput_per_min']:.2f})")
    print(f"GET p95 {res['get_p95_ms']} ms over {len(gets)} requests (target {GET_P95_MS} ms: ratio "
          f"{res['get_p95_ms'] / GET_P95_MS:.2f}); server peak RSS {res['peak_rss_mb']} MB (target {MEMORY_MB} MB: "
          f"ratio {res['peak_rss_mb'] / MEMORY_MB:.2f})")
    out = ROOT / 'bench' / 'results' / 'serve_bench.json'
    out.write_text(json.dumps(res, indent=1) + '\n')
    print(f'wrote {out.relative_to(ROOT)}')
    return 0 if completed == a.analyses else 1


if __name__ == '__main__':
    sys.exit(main())
