"""`openstack-rca serve` as operators and ML engineers use it: a real server process on a loopback port, its REST API
over HTTP (basic auth, uploads, restarts), and its pages in Debian's Chromium driven by Playwright."""
import base64, io, json, os, shutil, subprocess, tarfile, time, urllib.error, urllib.request
from pathlib import Path
import pytest
from helpers import BIN, clean_env, rca, ok, free_port, wait_http, stop

PASSWORD = 'correct horse'
CHROMIUM = shutil.which('chromium') or shutil.which('chromium-browser')
browser = pytest.mark.skipif(not CHROMIUM and not os.environ.get('OPENSTACK_RCA_REQUIRE_BROWSER'),
                             reason='chromium not found: install it (Debian: apt-get install chromium) to run the '
                                    'browser tests')


@pytest.fixture(scope='module')
def work(tmp_path_factory):
    "A folder as an operator has it: incident logs under logs/, healthy logs, a trained model v1, one user."
    d = tmp_path_factory.mktemp('serve')
    ok(rca(d, 'simulate', '--out', d / 'logs' / 'incident', '--seed', 11, '--minutes', 15, '--fault', 'network'))
    ok(rca(d, 'simulate', '--out', d / 'normal', '--seed', 12, '--minutes', 20, '--no-fault'))
    ok(rca(d, 'train', '--logs', d / 'normal', '--epochs', 3, '--quiet'))                 # embedded MLflow: v1
    p = subprocess.run([str(BIN / 'openstack-rca'), 'serve', '--add-user', 'alice', '--password-stdin',
                        '--credentials', 'users'], cwd=d, input=PASSWORD + '\n', capture_output=True, text=True,
                       env=clean_env())
    assert p.returncode == 0 and PASSWORD not in (d / 'users').read_text(), p.stderr
    return d


def start(cwd, *args, env=None):
    "A server process in `cwd` on a free port; (process, base URL)."
    port, log = free_port(), Path(cwd) / 'serve.log'
    with open(log, 'a') as out:
        proc = subprocess.Popen([str(BIN / 'openstack-rca'), 'serve', '--port', str(port), *map(str, args)], cwd=cwd,
                                env=clean_env(**(env or {})), stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    wait_http(f'http://127.0.0.1:{port}/health', proc, log)
    return proc, f'http://127.0.0.1:{port}'


def call(url, method='GET', body=None, user=None, token=None, raw=None, ctype='application/json'):
    "(HTTP status, JSON body) of one request."
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request(url, data=data, method=method, headers={'Content-Type': ctype} if data else {})
    if user: req.add_header('Authorization', 'Basic ' + base64.b64encode(f'{user[0]}:{user[1]}'.encode()).decode())
    if token: req.add_header('Authorization', f'Bearer {token}')
    try:
        with urllib.request.urlopen(req, timeout=60) as r: return r.status, json.loads(r.read() or b'null')
    except urllib.error.HTTPError as e: return e.code, json.loads(e.read() or b'null')


def wait_done(base, aid, timeout=180):
    t = time.time()
    while time.time() - t < timeout:
        code, r = call(f'{base}/api/v1/analyses/{aid}')
        assert code == 200, r
        if r['status'] in ('done', 'failed'): return r
        time.sleep(0.3)
    pytest.fail(f'analysis {aid} still {r["status"]} after {timeout} s')


def test_an_analysis_over_http_is_the_cli_analysis(work):
    "POST /api/v1/analyses with basic auth: 202, then the same JSON contract and causes as `analyze --format json`; full mode uses the registry's model and the analysis is recorded in MLflow."
    issue = json.loads((work / 'logs' / 'incident' / 'labels.json').read_text())['incidents'][0]['issue']
    proc, base = start(work, '--logs-root', 'logs', '--credentials', 'users')
    try:
        code, r = call(f'{base}/api/v1/analyses', 'POST', {'issue': issue, 'logs': 'incident', 'top': 3},
                       user=('alice', PASSWORD))
        assert code == 202 and r['status'] == 'queued', r
        got = wait_done(base, r['id'])
        assert got['status'] == 'done', got
        cli = json.loads(ok(rca(work, 'analyze', '--logs', work / 'logs' / 'incident', '--issue', issue, '--fast',
                                '--top', 3, '--format', 'json', '--no-mlflow')))
        assert set(cli) <= set(got['result'])
        assert [(c['file'], c['line']) for c in got['result']['root_causes']] == \
               [(c['file'], c['line']) for c in cli['root_causes']]
        code, r = call(f'{base}/api/v1/analyses', 'POST', {'issue': issue, 'logs': 'incident', 'mode': 'full'},
                       user=('alice', PASSWORD))
        full = wait_done(base, r['id'])['result']
        assert full['mode'] == 'full' and full['model']['version'] == 1, full.get('model')
        code, runs = call(f'{base}/api/v1/runs?type=rca_inference&limit=5')
        assert code == 200 and len(runs['runs']) >= 2 and all(x['status'] == 'FINISHED' for x in runs['runs'])
        code, runs = call(f'{base}/api/v1/runs?type=training')
        assert code == 200 and len(runs['runs']) == 1 and 'final_loss' in runs['runs'][0]['summary'], runs
        code, models = call(f'{base}/api/v1/models')
        assert code == 200 and [v['version'] for v in models['versions']] == [1]
        code, h = call(f'{base}/api/v1/health')
        assert h['tracking']['status'] == 'ok' and h['model']['status'] == 'error'        # nothing in production yet
        code, r = call(f'{base}/api/v1/predict', 'POST', {'inputs': [[2] * 10, [3] * 10]})
        assert code == 200 and len(r['predictions']) == 2 and abs(sum(r['predictions'][0]) - 1) < 1e-3, r
        assert r['model']['version'] == 1
        code, r = call(f'{base}/api/v1/predict', 'POST', {'inputs': [[2] * 3]})
        assert code == 400 and 'windows of 10' in r['error'], r
        code, r = call(f'{base}/api/v1/models/lstm_model/versions/1/promote', 'POST', {'to': 'staging'},
                       user=('alice', PASSWORD))
        assert code == 200 and r['version'] == 1, r
        code, r = call(f'{base}/api/v1/models/lstm_model/versions/1/promote', 'POST', {'to': 'nowhere'},
                       user=('alice', PASSWORD))
        assert code == 400 and 'staging or production' in r['error'], r
        code, r = call(f'{base}/api/v1/models/lstm_model/versions/1')
        assert code == 200 and r['version'] == 1 and '@staging' in r['aliases'] and r['tags']['sha256'], r
        assert issue not in (work / 'serve.log').read_text()                               # the issue stays private
    finally:
        stop(proc)


def test_bad_requests_get_one_line_4xx(work):
    "Anonymous, wrong password, bad JSON, `..`, an unknown id, a bad filter, a non-number version: each a 4xx with one `error` line, never a 500."
    proc, base = start(work, '--logs-root', 'logs', '--credentials', 'users', '--no-mlflow')
    try:
        cases = [(('POST', '/api/v1/analyses', {'issue': 'x', 'logs': 'incident'}, None), 401),
                 (('POST', '/api/v1/analyses', {'issue': 'x', 'logs': 'incident'}, ('alice', 'wrong')), 401),
                 (('POST', '/api/v1/analyses', {'issue': 'x', 'logs': '../../etc'}, ('alice', PASSWORD)), 400),
                 (('POST', '/api/v1/analyses', {'issue': 'x', 'logs': '/etc'}, ('alice', PASSWORD)), 400),
                 (('POST', '/api/v1/analyses', {'issue': 'x', 'logs': 'incident', 'top': 'all'}, ('alice', PASSWORD)),
                  400),
                 (('GET', '/api/v1/analyses/0123abcd', None, None), 404),
                 (('GET', '/api/v1/runs?type=everything', None, None), 400),
                 (('GET', '/api/v1/models/lstm_model/versions/one', None, None), 422),
                 (('POST', '/api/v1/models/lstm_model/versions/1/promote', {'to': 'production'}, None), 401),
                 (('GET', '/api/v1/models', None, None), 503)]                          # --no-mlflow: says so
        for (method, path, body, user), want in cases:
            code, r = call(base + path, method, body, user=user)
            assert code == want and list(r) == ['error'] and '\n' not in r['error'], (path, body, code, r)
        code, r = call(f'{base}/api/v1/analyses', 'POST', raw=b'{not json', user=('alice', PASSWORD))
        assert code == 400 and 'not valid JSON' in r['error']
        assert 'Traceback' not in (work / 'serve.log').read_text()
    finally:
        stop(proc)


def test_uploaded_tar_gz_is_analysed_and_confined(work, tmp_path):
    "Multipart upload of a .tar.gz of logs (bearer token): analysed like a folder; a member named ../x is refused and nothing is written outside."
    import httpx
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode='w:gz') as t:
        for f in sorted((work / 'logs' / 'incident').glob('*.log')): t.add(f, arcname=f'host1/{f.name}')
    bad = io.BytesIO()
    with tarfile.open(fileobj=bad, mode='w:gz') as t:
        ti = tarfile.TarInfo('../../escaped.log'); ti.size = 2; t.addfile(ti, io.BytesIO(b'x\n'))
    proc, base = start(tmp_path, '--no-mlflow', '--state', 'st', env={'OPENSTACK_RCA_API_TOKEN': 's3cr3t-token'})
    try:
        auth = {'Authorization': 'Bearer s3cr3t-token'}
        r = httpx.post(f'{base}/api/v1/analyses', data={'issue': 'instances cannot get a network'}, headers=auth,
                       files=[('files', ('logs.tar.gz', buf.getvalue(), 'application/gzip'))], timeout=60)
        assert r.status_code == 202, r.text
        got = wait_done(base, r.json()['id'])
        assert got['status'] == 'done' and got['result']['root_causes'][0]['file'].startswith('host1/'), got
        r = httpx.post(f'{base}/api/v1/analyses', data={'issue': 'x'}, headers=auth,
                       files=[('files', ('logs.tar.gz', bad.getvalue(), 'application/gzip'))], timeout=60)
        assert r.status_code == 400 and 'not a safe name' in r.json()['error']
        assert not list(tmp_path.rglob('escaped.log'))
        r = httpx.post(f'{base}/api/v1/analyses', data={'issue': 'x'}, headers={'Authorization': 'Bearer wrong'},
                       files=[('files', ('a.log', b'x\n', 'text/plain'))], timeout=60)
        assert r.status_code == 401
    finally:
        stop(proc)


def test_queued_analyses_survive_a_killed_server(work, tmp_path):
    "SIGKILL the server with analyses queued behind one worker: the next server finishes every one of them."
    shutil.copytree(work / 'logs', tmp_path / 'logs')
    shutil.copy(work / 'users', tmp_path / 'users')
    args = ('--logs-root', 'logs', '--credentials', 'users', '--no-mlflow', '--workers', '1')
    proc, base = start(tmp_path, *args)
    ids = []
    try:
        for i in range(4):
            code, r = call(f'{base}/api/v1/analyses', 'POST', {'issue': f'VMs fail {i}', 'logs': 'incident'},
                           user=('alice', PASSWORD))
            assert code == 202, r
            ids.append(r['id'])
    finally:
        os.killpg(proc.pid, 9); proc.wait()
    proc, base = start(tmp_path, *args)
    try:
        assert all(wait_done(base, aid)['status'] == 'done' for aid in ids)
    finally:
        stop(proc)


def test_a_public_interface_without_users_is_refused(tmp_path):
    "`serve --host 0.0.0.0` with no credentials: exit 2 and one line saying what to give."
    p = rca(tmp_path, 'serve', '--host', '0.0.0.0', '--port', free_port())
    assert p.returncode == 2 and p.stderr.count('\n') == 1 and '--credentials' in p.stderr, p.stderr


@browser
def test_pages_in_a_browser(work):
    "Chromium: log in, analyze the incident from the form, watch it finish, open a cause's log lines, promote v1 on the Models page, log out."
    from playwright.sync_api import sync_playwright
    assert CHROMIUM, 'chromium is required here (OPENSTACK_RCA_REQUIRE_BROWSER is set): apt-get install chromium'
    issue = json.loads((work / 'logs' / 'incident' / 'labels.json').read_text())['incidents'][0]['issue']
    proc, base = start(work, '--logs-root', 'logs', '--credentials', 'users')
    shots = work / 'screenshots'
    shots.mkdir(exist_ok=True)
    try:
        with sync_playwright() as pw:
            b = pw.chromium.launch(executable_path=CHROMIUM, args=['--no-sandbox', '--disable-gpu'])
            page = b.new_page(viewport={'width': 1280, 'height': 900})
            page.goto(f'{base}/login')
            page.fill('input[name=user]', 'alice'); page.fill('input[name=password]', 'wrong password')
            page.click('button[type=submit]')
            assert 'wrong user or password' in page.inner_text('#message')
            page.fill('input[name=user]', 'alice'); page.fill('input[name=password]', PASSWORD)
            page.click('button[type=submit]')
            assert 'alice' in page.inner_text('nav')
            page.fill('textarea[name=issue]', issue)
            page.select_option('select[name=logs]', 'incident')
            page.screenshot(path=str(shots / 'analyze.png'))
            page.click('button[type=submit]')
            page.wait_for_url('**/analyses/*')
            page.wait_for_selector('text=Root causes', timeout=120_000)          # the page refreshes until done
            assert 'done' in page.inner_text('#status')
            page.click('details.cause >> nth=0 >> summary')
            hit = page.locator('details.cause >> nth=0 >> .hit')
            assert hit.is_visible() and hit.inner_text().strip()
            page.screenshot(path=str(shots / 'report.png'), full_page=True)
            page.goto(f'{base}/models')
            page.click('button[value=production]')
            assert 'lstm_model v1 is now @production' in page.inner_text('#message')
            assert '@production' in page.inner_text('table')
            page.screenshot(path=str(shots / 'models.png'))
            page.goto(f'{base}/runs')
            assert 'rca_inference' in page.inner_text('body')
            page.click('text=log out')
            page.goto(f'{base}/models')
            assert page.locator('button[value=production]').count() == 0
            b.close()
        code, h = call(f'{base}/api/v1/health')
        assert h['model']['status'] == 'ok' and h['model']['version'] == 1               # what the CLI now uses too
        out = ok(rca(work, 'models', 'load', '--ref', '@production', '--json'))
        assert json.loads(out)['version'] == 1
    finally:
        stop(proc)


def test_predict_follows_the_production_alias(work):
    "/api/v1/predict answers from @production and loads the new version once the alias moves, without a restart."
    proc, base = start(work, '--credentials', 'users')
    try:
        alice = ('alice', PASSWORD)
        promote = lambda v: call(f'{base}/api/v1/models/lstm_model/versions/{v}/promote', 'POST', {'to': 'production'},
                                 user=alice)[0]
        assert promote(1) == 200
        code, r = call(f'{base}/api/v1/predict', 'POST', {'inputs': [[2] * 10]})
        assert code == 200 and r['model']['version'] == 1, r
        ok(rca(work, 'train', '--logs', work / 'normal', '--epochs', 2, '--quiet'))                 # v2
        code, r = call(f'{base}/api/v1/predict', 'POST', {'inputs': [[2] * 10]})
        assert r['model']['version'] == 1                                      # v2 is registered, not in production
        assert promote(2) == 200
        code, r = call(f'{base}/api/v1/predict', 'POST', {'inputs': [[2] * 10]})
        assert code == 200 and r['model']['version'] == 2, r
        code, r = call(f'{base}/api/v1/models/lstm_model/versions/2/archive', 'POST', {}, user=alice)
        assert code == 400 and 'is @production' in r['error'], r                     # serving: refused, one line
        code, r = call(f'{base}/api/v1/models/lstm_model/versions/1/archive', 'POST', {}, user=alice)
        assert code == 200 and r['version'] == 1, r
        tags = call(f'{base}/api/v1/models/lstm_model/versions/1')[1]['tags']
        assert tags['stage'] == 'archived' and tags['archived_by'] == 'alice', tags     # who clicked, not the server
        code, r = call(f'{base}/api/v1/models/lstm_model/versions/2/validate', 'POST', {'promote': False}, user=alice)
        assert code in (200, 400) and (code == 200 or 'validation' in r['error']), r    # a 2-epoch model may fail
        tags = call(f'{base}/api/v1/models/lstm_model/versions/2')[1]['tags']
        assert tags['validation.status'] in ('passed', 'failed') and tags['validation.by'] == 'alice', tags
        code, r = call(f'{base}/api/v1/experiments')
        assert code == 200 and 'openstack_rca_system_staging' in [e['name'] for e in r['experiments']], r
    finally:
        stop(proc)
