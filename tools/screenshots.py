#!/usr/bin/env python
"""Screenshots of the web UI's pages for the docs (nbs/web_ui.ipynb shows them; `make figures` refreshes them).

In a scratch folder: a simulated incident and a small model registered in the embedded MLflow store, one user,
`openstack-rca serve` on a free loopback port, and Debian's Chromium driven by Playwright through the pages an
operator uses. `take()` returns [(caption, PNG bytes)]; run as a script it writes them to --out (default
_docs/_screenshots/)."""
import argparse, json, os, shutil, socket, subprocess, sys, tempfile, time, urllib.request
from pathlib import Path

BIN = Path(sys.executable).parent
PASSWORD = 'screenshot-password'


def _rca(cwd, *args, **kw):
    env = {k: v for k, v in os.environ.items() if not k.startswith(('MLFLOW_', 'OPENSTACK_RCA_NO_MLFLOW'))}
    p = subprocess.run([str(BIN / 'openstack-rca'), *map(str, args)], cwd=cwd, env=env, capture_output=True,
                       text=True, **kw)
    if p.returncode: raise RuntimeError(f'openstack-rca {args[0]} failed: {p.stderr.strip()[-500:]}')
    return p.stdout


def take(width: int = 1280) -> list:
    from playwright.sync_api import sync_playwright
    chromium = shutil.which('chromium') or shutil.which('chromium-browser')
    if not chromium: raise RuntimeError('chromium not found: apt-get install chromium')
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        _rca(d, 'simulate', '--out', d / 'logs' / 'incident', '--seed', 11, '--minutes', 15, '--fault', 'network')
        _rca(d, 'simulate', '--out', d / 'normal', '--seed', 12, '--minutes', 20, '--no-fault')
        _rca(d, 'train', '--logs', d / 'normal', '--epochs', 3, '--quiet')
        _rca(d, 'serve', '--add-user', 'operator', '--password-stdin', '--credentials', d / 'users',
             input=PASSWORD + '\n')
        issue = json.loads((d / 'logs' / 'incident' / 'labels.json').read_text())['incidents'][0]['issue']
        with socket.socket() as s: s.bind(('127.0.0.1', 0)); port = s.getsockname()[1]
        base = f'http://127.0.0.1:{port}'
        with open(d / 'serve.log', 'w') as log:
            srv = subprocess.Popen([str(BIN / 'openstack-rca'), 'serve', '--port', str(port), '--logs-root', 'logs',
                                    '--credentials', 'users', '--quiet'], cwd=d, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
        shots = []
        try:
            for _ in range(240):
                try:
                    with urllib.request.urlopen(f'{base}/health', timeout=1): break
                except OSError: time.sleep(0.25)
            with sync_playwright() as pw:
                b = pw.chromium.launch(executable_path=chromium, args=['--no-sandbox', '--disable-gpu'])
                page = b.new_page(viewport={'width': width, 'height': 820})
                page.goto(f'{base}/login')
                page.fill('input[name=user]', 'operator'); page.fill('input[name=password]', PASSWORD)
                page.click('button[type=submit]')
                page.fill('textarea[name=issue]', issue)
                page.select_option('select[name=logs]', 'incident')
                shots.append(('Analyze: what users see, the logs (a folder under `--logs-root` or an upload), a time '
                              'window, fast or full', page.screenshot()))
                page.click('button[type=submit]')
                page.wait_for_selector('text=Root causes', timeout=120_000)
                page.click('details.cause >> nth=0 >> summary')
                shots.append(('The report: suspects, ranked causes (the first opened on its log lines), timeline, '
                              'affected resources, recommendations', page.screenshot(full_page=True)))
                page.goto(f'{base}/models')
                page.click('button[value=production]')
                shots.append(('Models: versions, aliases, validation; promote and validate (logged-in users)',
                              page.screenshot()))
                page.goto(f'{base}/runs')
                shots.append(('Runs: recent trainings and analyses', page.screenshot()))
                b.close()
        finally:
            os.killpg(srv.pid, 15); srv.wait(timeout=30)
    return shots


if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--out', default='_docs/_screenshots')
    out = Path(ap.parse_args().out)
    out.mkdir(parents=True, exist_ok=True)
    for i, (caption, png) in enumerate(take(), 1):
        (out / f'web-ui-{i}.png').write_bytes(png)
        print(f'{out}/web-ui-{i}.png: {caption}')
