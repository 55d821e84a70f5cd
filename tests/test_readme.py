"""The README's first hour, run as written: every ```bash block of README.md, in order, from the clone's root.

All but `make test` itself (this test runs inside it). A block with a line marked "until Ctrl-C" starts a server: it
runs until the URL it prints answers, then is stopped. ```sh blocks (the S3 and tracking-server setup) are not run
here; tests/test_models.py runs that flow against moto's S3 server."""
import json, re, subprocess, threading, time, urllib.request
from pathlib import Path
import pytest
from helpers import clean_env, rca, stop

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / 'README.md').read_text(encoding='utf-8')
BLOCKS = re.findall(r'^```bash\n(.*?)^```', README, flags=re.S | re.M)
URL = re.compile(r'http://127\.0\.0\.1:\d+\S*')


def script(block: str) -> str:
    return '\n'.join(l for l in block.splitlines() if l.split('#')[0].strip() != 'make test')


def serve(src: str, timeout=600):
    "Run a server block until the first loopback URL it prints answers 200; stop it; the URL."
    p = subprocess.Popen(['bash', '-c', src], cwd=ROOT, env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         text=True, start_new_session=True)
    out, found = [], []
    def read():
        for line in p.stdout:
            out.append(line)
            if not found and (m := URL.search(line)): found.append(m.group(0).rstrip('.,)'))
    threading.Thread(target=read, daemon=True).start()
    try:
        t0 = time.time()
        while not found and p.poll() is None and time.time() - t0 < timeout: time.sleep(0.5)
        assert found, f'no URL printed (exit {p.poll()}):\n' + ''.join(out)[-3000:]
        while True:
            try:
                status = urllib.request.urlopen(found[0], timeout=10).status
                break
            except OSError:
                assert time.time() - t0 < timeout and p.poll() is None, f'{found[0]} never answered:\n' + ''.join(out)[-3000:]
                time.sleep(1)
        assert status == 200, (found[0], status)
        return found[0]
    finally:
        stop(p)


def test_readme_has_the_first_hour():
    "The blocks this test runs are the ones the issue names: the demo, the CLI, JupyterLab, papermill, the docs."
    joined = '\n'.join(BLOCKS)
    for cmd in ('make demo', 'make test', 'openstack-rca analyze', 'make lab', 'papermill', 'openstack-rca sweep', 'make docs'):
        assert cmd in joined, cmd


@pytest.mark.parametrize('block', BLOCKS, ids=[next(l for l in script(b).splitlines() if l.strip() and 'activate' not in l and not l.startswith('cd '))[:40] for b in BLOCKS])
def test_readme_block(block):
    src = script(block)
    if 'until Ctrl-C' in src:
        url = serve(src)
        assert url.startswith('http://127.0.0.1:')
        return
    p = subprocess.run(['bash', '-euo', 'pipefail', '-c', src], cwd=ROOT, env=clean_env(), capture_output=True, text=True, timeout=1800)
    assert p.returncode == 0, f'README block failed (exit {p.returncode}):\n{src}\nstdout:\n{p.stdout[-3000:]}\nstderr:\n{p.stderr[-3000:]}'
    demo = ROOT / 'demo_out'
    if 'make demo' in src:
        assert (demo / 'report.html').stat().st_size > 10_000 and '#1 [' in p.stdout, p.stdout[-2000:]
    if 'db_report.json' in src:
        rep = json.loads((demo / 'db_report.json').read_text())
        assert rep['category'] == 'database' and rep['root_causes'], rep['category']
    if 'papermill' in src:
        assert (demo / 'training.ipynb').exists()
        assert len(list((demo / 'runs' / 'sweeps').rglob('*.ipynb'))) >= 2
    if 'make docs' in src:
        assert (ROOT / '_docs' / 'rca.html').exists()


def test_troubleshooting_quotes_real_messages(tmp_path):
    "The README's troubleshooting entries quote what the commands really print."
    ok_sim = rca(tmp_path, 'simulate', '--out', 'inc', '--seed', '3', '--minutes', '5')
    assert ok_sim.returncode == 0, ok_sim.stderr
    no_model = rca(tmp_path, 'analyze', '--logs', 'inc', '--issue', 'instances fail')
    assert no_model.returncode == 2 and 'no model for full mode' in no_model.stderr and 'no MLflow store at' in no_model.stderr
    assert '`analyze: error: no model for full mode (… no MLflow store at …/mlflow.db …)`' in README
    down = rca(tmp_path, 'models', 'list', env={'MLFLOW_TRACKING_URI': 'http://127.0.0.1:9'})
    assert down.returncode == 2 and 'MLflow tracking server http://127.0.0.1:9 is unreachable' in down.stderr
    assert 'unset MLFLOW_TRACKING_URI' in down.stderr and '`MLflow tracking server http://… is unreachable`' in README
