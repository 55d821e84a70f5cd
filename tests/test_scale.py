"""`--engine dask` through the console script: on a LocalCluster and on a Dask cluster started as separate
`dask scheduler` / `dask worker` processes, `analyze` gives the same causes as one process, and `parse` (Dask or
`--stream`) writes the same table as `parse` in one piece."""
import json, subprocess, sys, time
from pathlib import Path
import pandas as pd
import pytest
from helpers import rca, ok, free_port

BIN = Path(sys.executable).parent


@pytest.fixture(scope='module')
def case():
    from openstack_rca.logs import data_dir
    d = data_dir('fault-injection-openstack')
    if d is None: pytest.skip('fault-injection-openstack data not found (set OPENSTACK_RCA_DATA)')
    c = d / 'cases' / 'Neutron_Test_21'
    return c, json.loads((c / 'truth.json').read_text())['issue']


def causes(cwd, logs, issue, *more):
    rep = json.loads(ok(rca(cwd, 'analyze', '--logs', logs, '--issue', issue, '--fast', '--no-mlflow', '--format',
                            'json', *more)))
    return [(c['file'], c['line'], c['score'], c['template']) for c in rep['root_causes']], rep['suspects']


def test_analyze_on_a_local_cluster_gives_the_causes_of_one_process(case, tmp_path):
    c, issue = case
    one = causes(tmp_path, c / 'logs', issue)
    assert causes(tmp_path, c / 'logs', issue, '--engine', 'dask', '--workers', '2') == one


def test_parse_dask_and_stream_write_the_table_of_one_process(case, tmp_path):
    c, _ = case
    ok(rca(tmp_path, 'parse', c / 'logs', '--out', tmp_path / 'one.parquet', '--quiet', '--no-cache'))
    out = ok(rca(tmp_path, 'parse', c / 'logs', '--out', tmp_path / 'dask.parquet', '--engine', 'dask', '--workers',
                 '2', '--templates', tmp_path / 'state.json'))
    assert 'state saved to' in out and 'records per service and level' in out
    ok(rca(tmp_path, 'parse', c / 'logs', '--out', tmp_path / 'stream.csv', '--stream', '--quiet'))
    one = pd.read_parquet(tmp_path / 'one.parquet')
    assert pd.read_parquet(tmp_path / 'dask.parquet').equals(one)
    stream = pd.read_csv(tmp_path / 'stream.csv')
    assert stream['template_id'].tolist() == one['template_id'].tolist() and len(stream) == len(one)
    again = ok(rca(tmp_path, 'parse', c / 'logs', '--out', tmp_path / 'm.parquet', '--engine', 'dask', '--workers',
                   '1', '--templates', tmp_path / 'state.json', '--quiet'))        # match-only against the state
    local = ok(rca(tmp_path, 'parse', c / 'logs', '--out', tmp_path / 'l.parquet', '--templates',
                   tmp_path / 'state.json', '--quiet', '--no-cache'))
    assert 'match-only' in again and 'match-only' in local
    matched = pd.read_parquet(tmp_path / 'm.parquet')['template_id']
    assert matched.tolist() == pd.read_parquet(tmp_path / 'l.parquet')['template_id'].tolist()


def test_a_dask_cluster_of_separate_processes(case, tmp_path):
    c, issue = case
    port = free_port()
    procs = [subprocess.Popen([str(BIN / 'dask'), 'scheduler', '--host', '127.0.0.1', '--port', str(port),
                               '--no-dashboard'], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    try:
        time.sleep(2)
        procs += [subprocess.Popen([str(BIN / 'dask'), 'worker', f'tcp://127.0.0.1:{port}', '--nthreads', '1',
                                    '--no-dashboard', '--memory-limit', '1.5GiB'],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for _ in range(2)]
        time.sleep(3)
        got = causes(tmp_path, c / 'logs', issue, '--engine', 'dask', '--scheduler', f'tcp://127.0.0.1:{port}')
        assert got == causes(tmp_path, c / 'logs', issue)
    finally:
        for p in procs: p.terminate()
        for p in procs: p.wait(timeout=30)
    p = rca(tmp_path, 'analyze', '--logs', c / 'logs', '--issue', issue, '--fast', '--no-mlflow', '--engine', 'dask',
            '--scheduler', f'tcp://127.0.0.1:{port}')
    assert p.returncode == 2 and 'no Dask scheduler answers' in p.stderr and len(p.stderr.strip().splitlines()) == 1
    p = rca(tmp_path, 'parse', c / 'logs', '--out', tmp_path / 'x.parquet', '--workers', '2')
    assert p.returncode == 2 and 'go with --engine dask' in p.stderr


def test_train_on_a_local_cluster_learns_what_one_process_learns(case, tmp_path):
    c, _ = case
    healthy = c.parents[1] / 'healthy' / 'Nova_Test_2'
    for engine in ('local', 'dask'):
        ok(rca(tmp_path, 'train', '--logs', healthy, '--no-mlflow', '--epochs', '1', '--quiet', '--models-dir',
               tmp_path / engine, '--engine', engine, *(['--workers', '2'] if engine == 'dask' else [])))
    files = {e: {f.name: json.loads(f.read_text()) for f in (tmp_path / e).rglob('*.json')
                 if f.name in ('templates.json', 'vocabulary.json')} for e in ('local', 'dask')}
    assert set(files['local']) == {'templates.json', 'vocabulary.json'}
    assert files['dask'] == files['local']            # the same templates, counts and model vocabulary


def test_full_mode_scores_on_the_workers_as_one_process(case, tmp_path):
    """Full mode: the LSTM scores each session on the workers (records shuffled by session), the window is cut there;
    the report is the one process's."""
    c, issue = case
    ok(rca(tmp_path, 'train', '--logs', c.parents[1] / 'healthy' / 'Nova_Test_2', '--no-mlflow', '--epochs', '2',
           '--quiet'))
    window = ['--since', '2018-09-13 19:56:00', '--until', '2018-09-13 20:40:00']
    reports = {}
    for engine in ('local', 'dask'):
        out = ok(rca(tmp_path, 'analyze', '--logs', c / 'logs', '--issue', issue, '--no-mlflow', '--format', 'json',
                     '--engine', engine, *(['--workers', '2'] if engine == 'dask' else []), *window))
        reports[engine] = {k: v for k, v in json.loads(out).items() if k != 'timings'}
    assert reports['local']['mode'] == 'full' and reports['local']['model']['version'] is not None
    assert 1000 < reports['local']['stats']['records'] < 20000 and reports['local']['root_causes']
    assert reports['dask'] == reports['local']
