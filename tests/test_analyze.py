"""`openstack-rca analyze` and `evaluate` as an operator runs them: the JSON contract, both modes, a distractor, clean logs,
bad input, reports with plots, inference tracking on and off."""
import json, sqlite3, subprocess, sys
import pytest

from helpers import rca, ok

KEYS = {'issue', 'mode', 'category', 'confidence', 'suspects', 'root_causes', 'timeline', 'affected', 'recommendations', 'model',
        'warnings', 'stats', 'timings'}
RC_KEYS = ['rank', 'score', 'service', 'fault_service', 'host', 'component', 'file', 'line', 'timestamp', 'level', 'request_id',
           'instance_id', 'exception', 'frame', 'template', 'message', 'explanation']


@pytest.fixture(scope='module')
def data(tmp_path_factory):
    d = tmp_path_factory.mktemp('analyze')
    ok(rca(d, 'simulate', '--out', d / 'incident', '--seed', 23, '--minutes', 20, '--fault', 'network', '--distractors', 4))
    ok(rca(d, 'simulate', '--out', d / 'clean', '--seed', 24, '--minutes', 15, '--no-fault'))
    ok(rca(d, 'simulate', '--out', d / 'normal', '--seed', 25, '--minutes', 45, '--no-fault'))
    ok(rca(d, 'train', '--logs', d / 'normal', '--no-mlflow', '--quiet', '--epochs', 20))          # → d/models/lstm_model_v1
    return d


def labels(d):
    return json.loads((d / 'incident' / 'labels.json').read_text())


def test_json_contract_fast_mode(data, tmp_path):
    lab = labels(data)
    inc = lab['incidents'][0]
    out = ok(rca(tmp_path, 'analyze', '--logs', data / 'incident', '--issue', inc['issue'], '--fast', '--format', 'json', '--no-mlflow'))
    rep = json.loads(out)
    assert set(rep) == KEYS and rep['mode'] == 'fast' and rep['model'] is None and rep['category'] == 'network'
    assert 0 < rep['confidence'] <= 1 and rep['root_causes'] and rep['timeline'] and rep['recommendations']
    for rc in rep['root_causes']:
        assert list(rc) == RC_KEYS
        text = (data / 'incident' / rc['file']).read_text().splitlines()[rc['line'] - 1]           # file:line is the evidence
        assert text.endswith(rc['message'].splitlines()[0]) and rc['timestamp'] in text.replace(',', '.')
    assert [rc['rank'] for rc in rep['root_causes']] == list(range(1, len(rep['root_causes']) + 1))
    truth = {(r['file'], r['line']) for r in inc['root_cause']}
    assert (rep['root_causes'][0]['file'], rep['root_causes'][0]['line']) in truth
    # the distractor errors (other categories, same logs) never outrank the cause
    distractors = {(x['file'], x['line']) for x in lab['distractors']}
    assert len(distractors) == 4
    assert not any((rc['file'], rc['line']) in distractors for rc in rep['root_causes'][:1])
    assert set(rep['affected']) == {'services', 'hosts', 'instances', 'requests'} and 'neutron-server' in rep['affected']['services']
    assert set(rep['stats']) >= {'records', 'skipped', 'chains', 'anomalous_chains'} and rep['stats']['records'] == lab['records']
    assert {'parse', 'rank', 'total'} <= set(rep['timings'])


def test_full_mode_uses_the_model_and_says_which(data):
    inc = labels(data)['incidents'][0]
    rep = json.loads(ok(rca(data, 'analyze', '--logs', 'incident', '--issue', inc['issue'], '--format', 'json', '--no-mlflow')))
    assert rep['mode'] == 'full' and rep['model']['name'] == 'lstm_model' and rep['model']['version'] == 1
    assert rep['model']['source'].endswith('models/lstm_model_v1') and 'lstm' in rep['timings']
    assert (rep['root_causes'][0]['file'], rep['root_causes'][0]['line']) in {(r['file'], r['line']) for r in inc['root_cause']}
    assert rep['root_causes'][0]['file'] == rep['root_causes'][0]['file'].split('/')[-1]              # relative to the folder given


def test_full_mode_without_a_model_says_what_to_do(data, tmp_path):
    p = rca(tmp_path, 'analyze', '--logs', data / 'incident', '--issue', 'VMs get no IP')
    assert p.returncode == 2 and '--fast' in p.stderr and 'openstack-rca train' in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1 and 'Traceback' not in p.stderr


def test_clean_logs_have_no_anomaly(data, tmp_path):
    p = rca(tmp_path, 'analyze', '--logs', data / 'clean', '--issue', 'instances go to ERROR and users cannot get IPs', '--fast', '--no-mlflow')
    assert p.returncode == 0 and 'no anomaly found' in p.stdout
    rep = json.loads(ok(rca(tmp_path, 'analyze', '--logs', data / 'clean', '--issue', 'instances go to ERROR', '--fast', '--no-mlflow', '--format', 'json')))
    assert (rep['root_causes'], rep['category']) == ([], 'unknown')


def test_bad_input_is_one_line(data, tmp_path):
    (tmp_path / 'empty').mkdir()
    (tmp_path / 'empty.log').write_text('')
    cases = [(['--logs', tmp_path / 'missing', '--issue', 'x', '--fast'], 'no such file or directory'),
             (['--logs', tmp_path / 'empty.log', '--issue', 'x', '--fast'], 'no OpenStack log records found'),
             (['--logs', data / 'incident', '--issue', '  ', '--fast'], '--issue is empty'),
             (['--logs', data / 'incident', '--issue', 'x', '--fast', '--format', 'html'], 'give --out FILE'),
             (['--logs', data / 'incident', '--issue', 'x', '--fast', '--top', '0'], '--top must be at least 1')]
    for args, msg in cases:
        p = rca(tmp_path, 'analyze', *args, '--no-mlflow')
        assert p.returncode == 2 and msg in p.stderr and len(p.stderr.strip().splitlines()) == 1, (args, p.stderr)
    p = rca(tmp_path, 'analyze', '--logs', tmp_path / 'empty', '--issue', 'x', '--fast', '--no-mlflow')
    assert p.returncode == 2 and 'Traceback' not in p.stderr and len(p.stderr.strip().splitlines()) == 1, p.stderr
    p = rca(tmp_path, 'analyze', '--logs', data / 'incident', '--issue', 'x', '--since', 'yesterday-ish', '--fast')
    assert p.returncode == 2 and 'not a timestamp' in p.stderr


def test_since_until_narrow_the_window(data, tmp_path):
    inc = labels(data)['incidents'][0]
    first = inc['root_cause'][0]['timestamp']
    rep = json.loads(ok(rca(tmp_path, 'analyze', '--logs', data / 'incident', '--issue', inc['issue'], '--fast', '--no-mlflow',
                            '--format', 'json', '--until', '2026-01-15 09:01:00')))
    assert rep['stats']['records'] < labels(data)['records'] and all(rc['timestamp'] <= '2026-01-15 09:01:00.000' for rc in rep['root_causes'])
    assert first > '2026-01-15 09:01:00'


def test_markdown_and_html_reports_embed_the_timeline(data, tmp_path):
    inc = labels(data)['incidents'][0]
    for fmt, head in (('markdown', '# Root-cause analysis'), ('html', '<!doctype html>')):
        out = tmp_path / f'report.{fmt}'
        ok(rca(tmp_path, 'analyze', '--logs', data / 'incident', '--issue', inc['issue'], '--fast', '--no-mlflow', '--format', fmt, '--out', out))
        text = out.read_text()
        assert text.startswith(head) and 'data:image/png;base64,' in text and 'neutron-server.log:' in text


def test_inference_tracking_on_and_off(data, tmp_path):
    issue = labels(data)['incidents'][0]['issue']
    ok(rca(tmp_path, 'analyze', '--logs', data / 'incident', '--issue', issue, '--fast', '--no-mlflow'))
    assert not (tmp_path / 'mlflow.db').exists()
    ok(rca(tmp_path, 'analyze', '--logs', data / 'incident', '--issue', issue, '--fast', env={'OPENSTACK_RCA_NO_MLFLOW': '1'}))
    assert not (tmp_path / 'mlflow.db').exists()
    p = rca(tmp_path, 'analyze', '--logs', data / 'incident', '--issue', issue, '--fast')
    assert p.returncode == 0 and not p.stderr.strip(), p.stderr
    db = sqlite3.connect(tmp_path / 'mlflow.db')
    runs = db.execute("select r.run_uuid from runs r join tags t on t.run_uuid = r.run_uuid where t.key = 'run_type' and t.value = 'rca_inference'").fetchall()
    assert len(runs) == 1
    params = dict(db.execute('select key, value from params where run_uuid = ?', runs[0]).fetchall())
    metrics = {k for (k,) in db.execute('select key from metrics where run_uuid = ?', runs[0])}
    assert params['issue_length'] == str(len(issue)) and len(params['issue_sha256']) == 64 and params['mode'] == 'fast'
    assert issue not in json.dumps(params) and {'latency.total', 'stats.records', 'confidence'} <= metrics
    # an unreachable tracking server costs a warning, not the answer
    p = rca(tmp_path, 'analyze', '--logs', data / 'incident', '--issue', issue, '--fast', env={'MLFLOW_TRACKING_URI': 'http://127.0.0.1:9'})
    assert p.returncode == 0 and 'category: network' in p.stdout and 'inference not tracked' in p.stderr


def test_fast_mode_does_not_import_tensorflow(data, tmp_path):
    code = ('import sys; from openstack_rca.cli import main; '
            f"rc = main(['analyze', '--logs', {str(data / 'incident')!r}, '--issue', 'no IPs', '--fast', '--no-mlflow', '--format', 'json']); "
            "assert rc == 0 and 'tensorflow' not in sys.modules and 'keras' not in sys.modules, sorted(m for m in sys.modules if 'tensorflow' in m)[:3]")
    p = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, cwd=tmp_path)
    assert p.returncode == 0, p.stderr[-2000:]


def test_full_mode_runs_the_lstm_without_tensorflow(data):
    "Full mode scores with the model's NumPy weights: TensorFlow is never imported, and the causes and scores are those of the Keras model."
    inc = labels(data)['incidents'][0]
    code = ('import sys, json, io, contextlib; from openstack_rca.cli import main; out = io.StringIO()\n'
            'with contextlib.redirect_stdout(out):\n'
            f"    rc = main(['analyze', '--logs', 'incident', '--issue', {inc['issue']!r}, '--no-mlflow', '--format', 'json'])\n"
            "assert rc == 0 and 'tensorflow' not in sys.modules and 'keras' not in sys.modules\n"
            "print(out.getvalue())")
    p = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, cwd=data)
    assert p.returncode == 0, p.stderr[-2000:]
    rep = json.loads(p.stdout)
    assert rep['mode'] == 'full' and rep['model']['version'] == 1
    code = ('import json; from openstack_rca.tracking import load_scorer; from openstack_rca.rca import analyze\n'
            'from openstack_rca.core import Settings, using\n'
            "with using(Settings.resolve({'OPENSTACK_RCA_NO_MLFLOW': '1'})):\n"
            "    r = analyze(['incident'], " + repr(inc['issue']) + ", scorer=load_scorer('models/lstm_model_v1', "
            "engine='keras'), top=5)\n"
            "print(json.dumps([[c['file'], c['line'], round(c['score'], 4)] for c in r.root_causes]))")
    p = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, cwd=data)
    assert p.returncode == 0, p.stderr[-2000:]
    assert json.loads(p.stdout.strip().splitlines()[-1]) == [[c['file'], c['line'], round(c['score'], 4)]
                                                              for c in rep['root_causes']]


def test_evaluate(data, tmp_path):
    r = json.loads(ok(rca(tmp_path, 'evaluate', '--scenarios', 8, '--fast', '--json', '--quiet')))
    s = r['summary']
    assert s['incidents'] == 8 and s['mode'] == 'fast' and s['category_accuracy'] >= 0.95 and s['mrr'] >= 0.9
    assert {x['category'] for x in r['incidents']} == {'resource_shortage', 'network', 'authentication', 'messaging', 'database', 'hypervisor', 'image', 'storage'}
    r = json.loads(ok(rca(data, 'evaluate', '--data', data / 'incident', '--json', '--quiet')))        # full mode, labelled folder
    assert r['summary']['mode'] == 'full' and r['incidents'][0]['rank'] == 1
    p = rca(tmp_path, 'evaluate', '--data', tmp_path, '--fast')
    assert p.returncode == 2 and 'holds no labels.json' in p.stderr
