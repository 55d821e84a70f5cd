"""Logs where clouds keep them, through the console script: `analyze --source` against local replay servers of
OpenSearch, Elasticsearch and Loki (the real APIs' documented shapes; the servers themselves cannot be installed
here), a multi-host kolla tree naming hosts, and a `journalctl -o json` export of devstack units. Each gives the same
top causes as the same real failure read from its files."""
import json
import pandas as pd
import pytest
from helpers import rca, ok
from openstack_rca.logs import data_dir, read_logs
from openstack_rca.sources import kolla_docs, loki_streams, loki_replay, opensearch_replay

CASE = 'Nova_Test_1'


@pytest.fixture(scope='module')
def case():
    d = data_dir('fault-injection-openstack')
    if d is None: pytest.skip('fault-injection-openstack data not found (set OPENSTACK_RCA_DATA)')
    c = d / 'cases' / CASE
    records, _ = read_logs(c / 'logs', cache=False)
    truth = json.loads((c / 'truth.json').read_text())
    return c, records, truth


def analyze(cwd, *args, env=None):
    p = rca(cwd, 'analyze', *args, '--fast', '--no-mlflow', '--format', 'json', env=env)
    return json.loads(ok(p))


def top(rep, n=3):
    "What a cause says, whatever file and line name it: service, level, first line of the message."
    return [(c['service'], c['level'], c['message'].splitlines()[0]) for c in rep['root_causes'][:n]]


@pytest.fixture(scope='module')
def from_files(case, tmp_path_factory):
    c, _, truth = case
    return analyze(tmp_path_factory.mktemp('files'), '--logs', c / 'logs', '--issue', truth['issue'])


def test_opensearch_source_gives_the_causes_of_the_files(case, from_files, tmp_path):
    c, records, truth = case
    window = ['--since', str(records.timestamp.min()), '--until', str(records.timestamp.max())]
    with opensearch_replay(kolla_docs(records), user='reader', password='pw-7f3a', max_result_window=5000) as srv:
        env = {'OPENSTACK_RCA_SOURCE_USER': 'reader', 'OPENSTACK_RCA_SOURCE_PASSWORD': 'pw-7f3a'}
        rep = analyze(tmp_path, '--source', f'opensearch+{srv.url}/flog-*', '--issue', truth['issue'], *window, env=env)
        assert srv.searches >= len(records) // 5000 and not srv.pits          # paged past the window, PIT closed
        assert top(rep) == top(from_files) and rep['suspects'][0]['service'] == from_files['suspects'][0]['service']
        assert rep['root_causes'][0]['file'].startswith('opensearch:flog-*/controller/')
        assert rep['stats']['records'] == from_files['stats']['records']
        bad = rca(tmp_path, 'analyze', '--source', f'opensearch+{srv.url}/flog-*', '--issue', 'x', '--fast',
                  '--no-mlflow', *window, env={**env, 'OPENSTACK_RCA_SOURCE_PASSWORD': 'wrong-pw'})
    assert bad.returncode == 2 and 'refused the credentials' in bad.stderr and 'Traceback' not in bad.stderr
    assert 'wrong-pw' not in bad.stderr + bad.stdout and len(bad.stderr.strip().splitlines()) == 1


def test_elasticsearch_and_loki_sources(case, from_files, tmp_path):
    c, records, truth = case
    window = ['--since', str(records.timestamp.min()), '--until', str(records.timestamp.max())]
    with opensearch_replay(kolla_docs(records), flavour='elasticsearch') as srv:
        rep = analyze(tmp_path, '--source', f'elasticsearch+{srv.url}/flog-*', '--issue', truth['issue'], *window)
    assert top(rep) == top(from_files)
    with loki_replay(loki_streams(c / 'logs'), tenant='ops') as srv:
        env = {'OPENSTACK_RCA_SOURCE_TENANT': 'ops'}
        rep = analyze(tmp_path, '--source', f'loki+{srv.url}', '--query', '{job="openstack"}', '--issue',
                      truth['issue'], *window, env=env)
        assert srv.queries > 1 and top(rep) == top(from_files)
        empty = rca(tmp_path, 'analyze', '--source', f'loki+{srv.url}', '--issue', 'x', '--fast', '--no-mlflow',
                    '--since', '2030-01-01T00:00:00', '--until', '2030-01-01T01:00:00', env=env)
    assert empty.returncode == 2 and 'no OpenStack log records in loki:' in empty.stderr
    p = rca(tmp_path, 'analyze', '--source', 'loki+http://user:pw@127.0.0.1:9/', '--issue', 'x', '--fast')
    assert p.returncode == 2 and 'do not go in the URL' in p.stderr and 'pw@' not in p.stderr


def test_multi_host_kolla_tree_names_hosts(case, from_files, tmp_path):
    c, records, truth = case
    for f in sorted((c / 'logs').glob('*.log.gz')):
        project = f.name.split('-')[0]
        host = 'cmp1' if 'compute' in f.name or 'openvswitch' in f.name else 'ctl1'
        dest = tmp_path / 'bundle' / host / 'var/log/kolla' / project / f.name
        dest.parent.mkdir(parents=True, exist_ok=True); dest.write_bytes(f.read_bytes())
    rep = analyze(tmp_path, '--logs', tmp_path / 'bundle', '--issue', truth['issue'])
    assert top(rep) == top(from_files)
    hosts = {c['service']: c['host'] for c in rep['root_causes']}
    assert all(h == ('cmp1' if 'compute' in s or 'openvswitch' in s else 'ctl1') for s, h in hosts.items())
    assert set(rep['affected']['hosts']) <= {'ctl1', 'cmp1'} and rep['affected']['hosts']
    assert rep['suspects'][0]['hosts'] == [hosts[rep['root_causes'][0]['service']]]
    text = ok(rca(tmp_path, 'analyze', '--logs', tmp_path / 'bundle', '--issue', truth['issue'], '--fast',
                  '--no-mlflow'))
    assert f"{rep['root_causes'][0]['service']}@{rep['root_causes'][0]['host']}" in text and 'hosts ' in text


UNITS = {'nova-compute': 'n-cpu', 'nova-api': 'n-api', 'nova-scheduler': 'n-sch', 'nova-conductor': 'n-cond',
         'neutron-server': 'q-svc', 'glance-api': 'g-api', 'cinder-volume': 'c-vol', 'cinder-api': 'c-api',
         'keystone': 'keystone'}


def test_journald_export_of_devstack_units(case, tmp_path):
    c, records, truth = case
    recs = records[records.service.isin(UNITS)].sort_values('timestamp', kind='stable')
    with open(tmp_path / 'journal.json', 'w') as out:
        for r in recs.itertuples():
            ctx = (f'[None {r.request_id} {r.user_id or "-"} {r.project_id or "-"}] '
                   if isinstance(r.request_id, str) else '')
            e = {'__REALTIME_TIMESTAMP': str(pd.Timestamp(r.timestamp).value // 1000), '_HOSTNAME': 'devstack1',
                 '_PID': str(r.pid), '_SYSTEMD_UNIT': f'devstack@{UNITS[r.service]}.service',
                 'MESSAGE': f'{r.level} {r.component} {ctx}{r.message}'}
            out.write(json.dumps(e) + '\n')
        out.write(json.dumps({'_SYSTEMD_UNIT': 'sshd.service', 'MESSAGE': 'Accepted publickey',
                              '__REALTIME_TIMESTAMP': '1530000000000000'}) + '\n')
    (tmp_path / 'files').mkdir()
    for s in UNITS:
        f = c / 'logs' / f'{s}.log.gz'
        if f.exists(): (tmp_path / 'files' / f.name).write_bytes(f.read_bytes())
    want = analyze(tmp_path, '--logs', tmp_path / 'files', '--issue', truth['issue'])
    rep = analyze(tmp_path, '--logs', tmp_path / 'journal.json', '--issue', truth['issue'])
    assert top(rep) == top(want)
    first = rep['root_causes'][0]
    line = (tmp_path / 'journal.json').read_text().splitlines()[first['line'] - 1]
    assert json.loads(line)['MESSAGE'].split('] ', 1)[-1].startswith(first['message'].splitlines()[0][:60])
    assert first['host'] == 'devstack1' and rep['stats']['skipped_by_reason'] == {'foreign_format': 1}
