"""`openstack-rca analyze` on real OpenStack failures (fault-injection-openstack): tracebacks cited once at their first
line, `suspects`, an issue in Italian, ids pasted in the issue, "no anomaly" only when there is none, a healthy
baseline, local time zones, and the warning when a full-mode model was trained on other logs."""
import gzip, json
import pytest
from helpers import rca, ok
from openstack_rca.logs import data_dir

SUSPECT_KEYS = ['rank', 'service', 'score', 'components', 'hosts', 'evidence']


@pytest.fixture(scope='module')
def fi():
    d = data_dir('fault-injection-openstack')
    if d is None: pytest.skip('fault-injection-openstack data not found (set OPENSTACK_RCA_DATA or put ../shared/data beside the project)')
    return d


def analyze_json(cwd, logs, issue, *more):
    return json.loads(ok(rca(cwd, 'analyze', '--logs', logs, '--issue', issue, '--fast', '--no-mlflow', '--format', 'json', *more)))


def test_traceback_is_one_cause_and_suspects_say_where(fi, tmp_path):
    case = fi / 'cases' / 'Cinder_Test_105'
    truth = json.loads((case / 'truth.json').read_text())
    rep = analyze_json(tmp_path, case / 'logs', truth['issue'])
    assert [list(s) for s in rep['suspects']] == [SUSPECT_KEYS] * len(rep['suspects'])
    assert rep['suspects'][0]['service'] in truth['services']
    top = rep['root_causes'][0]
    lines = gzip.decompress((case / 'logs' / top['file']).read_bytes()).decode().splitlines()
    cited = lines[top['line'] - 1]
    assert top['message'].splitlines()[0] in cited and '[req-' in cited            # the record's first line, with its context
    assert top['exception'] == 'KeyError' and 'Traceback (most recent call last)' in top['message']
    assert not any(rc['message'].lstrip().startswith(('File "', 'Traceback')) for rc in rep['root_causes'])
    assert rep['category'] == 'defect' and any('_volume_type_get' in r or 'cinder.' in r for r in rep['recommendations'])


def test_issue_in_italian_finds_the_quoted_failure(fi, tmp_path):
    case = fi / 'cases' / 'Nova_Test_103'              # no ERROR at all: the API answered 400 in Italian
    truth = json.loads((case / 'truth.json').read_text())
    assert 'impronta digitale' in truth['issue']
    rep = analyze_json(tmp_path, case / 'logs', truth['issue'])
    assert rep['root_causes'] and rep['suspects'][0]['service'] in truth['services']
    assert 'impronta digitale' in rep['root_causes'][0]['message']


def write(path, lines):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('\n'.join(lines) + '\n')


VOL, PORT = '0b0c9f5c-1111-4fe1-8377-45b9de3b618d', '7a1d2c3b-2222-4fe1-8377-45b9de3b618d'


def test_ids_pasted_in_the_issue_anchor_their_incident(tmp_path):
    write(tmp_path / 'logs' / 'neutron-server.log', [
        f'2018-09-29 21:28:00.000 11 ERROR neutron.plugins.ml2.managers [req-aaa u p - - -] Failed to bind port {PORT}'])
    write(tmp_path / 'logs' / 'cinder-volume.log', [
        f'2018-09-29 21:28:06.000 7 ERROR cinder.volume.manager [req-bbb u p - - -] Volume {VOL} creation failed'])
    for issue, want in ((f'volume {VOL} stays in error', 'cinder-volume'), (f'port {PORT} is down', 'neutron-server')):
        rep = analyze_json(tmp_path, tmp_path / 'logs', issue)
        assert rep['suspects'][0]['service'] == want, (issue, rep['suspects'])


def test_cause_in_one_service_outranks_the_symptom_linked_by_a_volume_id(tmp_path):
    write(tmp_path / 'logs' / 'cinder-volume.log', [
        f'2018-09-29 21:28:06.000 7 ERROR cinder.volume.manager [req-bbb u p - - -] Volume {VOL} creation failed'])
    write(tmp_path / 'logs' / 'cinder-api.log', [
        f'2018-09-29 21:29:44.000 8 ERROR cinder.volume.api [req-ccc u p - - -] Volume status must be available to '
        f'reserve, but the status is error. volume_id={VOL}'])
    rep = analyze_json(tmp_path, tmp_path / 'logs', 'openstack server add volume fails: Volume status must be available '
                       'to reserve, but the status is error (HTTP 400)')
    assert [r['service'] for r in rep['root_causes']][:2] == ['cinder-volume', 'cinder-api']


def test_no_anomaly_only_when_there_is_none(tmp_path):
    write(tmp_path / 'calm' / 'nova-api.log', ['2018-09-29 21:28:06.000 7 INFO nova.api [req-1 u p - - -] GET /servers 200'] * 5)
    p = rca(tmp_path, 'analyze', '--logs', tmp_path / 'calm', '--issue', 'servers fail', '--fast', '--no-mlflow')
    assert p.returncode == 0 and 'no anomaly found' in p.stdout
    write(tmp_path / 'err' / 'nova-api.log', ['2018-09-29 21:28:06.000 7 INFO nova.api [req-1 u p - - -] GET /servers 200'] * 5
          + ['2018-09-29 21:28:07.000 7 ERROR nova.api [req-2 u p - - -] something unrelated to the words'])
    rep = analyze_json(tmp_path, tmp_path / 'err', 'servers fail')
    assert rep['root_causes'] and rep['root_causes'][0]['level'] == 'ERROR'


def test_baseline_from_healthy_logs_and_time_zones(fi, tmp_path):
    case = fi / 'cases' / 'Neutron_Test_101'
    truth = json.loads((case / 'truth.json').read_text())
    rep = analyze_json(tmp_path, case / 'logs', truth['issue'], '--baseline', fi / 'healthy' / 'Neutron_Test_6', '--tz=-04:00')
    assert rep['stats']['baseline'].endswith('Neutron_Test_6') and rep['stats']['tz_unmapped'] == 0
    assert rep['suspects'][0]['service'] in truth['services']
    assert rep['root_causes'][0]['timestamp'] > truth['activations'][0]       # local time + 4 h is UTC
    p = rca(tmp_path, 'analyze', '--logs', case / 'logs', '--issue', 'x', '--fast', '--no-mlflow', '--tz', 'Mars/Olympus')
    assert p.returncode == 2 and 'not a time zone' in p.stderr and 'Traceback' not in p.stderr


def test_full_mode_model_trained_on_other_logs_says_so(fi, tmp_path):
    ok(rca(tmp_path, 'simulate', '--out', tmp_path / 'sim', '--seed', 5, '--minutes', 20, '--no-fault'))
    ok(rca(tmp_path, 'train', '--logs', tmp_path / 'sim', '--no-mlflow', '--quiet', '--epochs', 2))
    case = fi / 'cases' / 'Cinder_Test_105'
    truth = json.loads((case / 'truth.json').read_text())
    rep = json.loads(ok(rca(tmp_path, 'analyze', '--logs', case / 'logs', '--issue', truth['issue'], '--no-mlflow',
                            '--format', 'json')))
    assert rep['mode'] == 'full' and rep['stats']['unseen_templates'] > 0.3
    assert any('trained on different logs' in w and 'openstack-rca train' in w for w in rep['warnings'])
    assert rep['suspects'][0]['service'] in truth['services']
    text = ok(rca(tmp_path, 'analyze', '--logs', case / 'logs', '--issue', truth['issue'], '--no-mlflow'))
    assert 'warning: the model was trained on different logs' in text
