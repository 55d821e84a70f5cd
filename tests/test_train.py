"`openstack-rca train` as a user runs it: the embedded MLflow store by default, --no-mlflow, an unreachable server."
import json, os, sqlite3, subprocess
import pytest
from helpers import BIN, rca, free_port, wait_http, stop

TINY = ['--epochs', '3', '--lstm-units', '16', '--num-layers', '1', '--embedding-dim', '8', '--quiet']


@pytest.fixture(scope='module')
def logs(cli, tmp_path_factory):
    d = tmp_path_factory.mktemp('sim')
    cli('simulate', '--out', d / 'normal', '--seed', 31, '--minutes', 15, '--no-fault', check=True)
    cli('simulate', '--out', d / 'incident', '--seed', 32, '--minutes', 10, '--fault', 'database', check=True)
    return d


def test_embedded_store_by_default(logs, tmp_path):
    p = rca(tmp_path, 'train', '--logs', logs / 'normal', '--eval', logs / 'incident', *TINY)
    assert p.returncode == 0, p.stderr
    assert 'registered lstm_model version 1' in p.stdout and 'mlflow ui --backend-store-uri sqlite:' in p.stdout
    assert (tmp_path / 'mlflow.db').exists() and (tmp_path / 'mlartifacts').is_dir() and not (tmp_path / 'models').exists()
    db = sqlite3.connect(tmp_path / 'mlflow.db')
    (exp,) = db.execute("select name from experiments where name = 'openstack_rca_system_staging'").fetchone()
    runs = db.execute('select name from runs').fetchall()
    assert len(runs) == 1 and runs[0][0].startswith('openstack_rca_system_staging_')
    keys = {k for (k,) in db.execute('select distinct key from metrics')}
    assert {'loss', 'f1', 'precision', 'recall', 'accuracy', 'training_seconds'} <= keys
    assert any(k.startswith('system/') for k in keys), keys                   # MLflow's system metrics
    params = dict(db.execute('select key, value from params').fetchall())
    assert params['model.epochs'] == '3' and len(params['data.fingerprint']) == 16
    assert db.execute("select version from model_versions where name = 'lstm_model'").fetchall() == [(1,)]
    # the registered version loads back from the registry, its files matching the sha256 tag
    p = rca(tmp_path, 'models', 'load', '--ref', '1', '--json', env={'OPENSTACK_RCA_CACHE': str(tmp_path / 'cache')})
    assert p.returncode == 0, p.stderr
    prov = json.loads(p.stdout)
    assert (prov['via'], prov['version'], prov['notes']) == ('registry', 1, []) and prov['source'].startswith('models:/m-')
    # a second run in the same store registers version 2
    p = rca(tmp_path, 'train', '--logs', logs / 'normal', *TINY)
    assert p.returncode == 0 and 'registered lstm_model version 2' in p.stdout


def test_no_mlflow_saves_under_models(logs, tmp_path):
    p = rca(tmp_path, 'train', '--logs', logs / 'normal', '--no-mlflow', *TINY)
    assert p.returncode == 0, p.stderr
    assert not (tmp_path / 'mlflow.db').exists()
    model = tmp_path / 'models' / 'lstm_model_v1'
    assert (model / 'MLmodel').exists() and json.loads((model / 'extra_files' / 'scorer.json').read_text())['format']
    p = rca(tmp_path, 'train', '--logs', logs / 'normal', *TINY, env={'OPENSTACK_RCA_NO_MLFLOW': '1'})
    assert p.returncode == 0 and (tmp_path / 'models' / 'lstm_model_v2').is_dir() and not (tmp_path / 'mlflow.db').exists()


def test_unreachable_server_still_trains(logs, tmp_path):
    p = rca(tmp_path, 'train', '--logs', logs / 'normal', *TINY, env={'MLFLOW_TRACKING_URI': 'http://127.0.0.1:9'})
    assert p.returncode == 0, p.stderr
    warnings = [l for l in p.stderr.splitlines() if 'warning' in l]
    assert len(warnings) == 1 and 'unreachable' in warnings[0]
    assert (tmp_path / 'models' / 'lstm_model_v1' / 'MLmodel').exists()


def test_train_errors_are_one_line(tmp_path):
    p = rca(tmp_path, 'train', '--logs', tmp_path / 'nope', '--no-mlflow')
    assert p.returncode == 2 and 'no such file or directory' in p.stderr and 'Traceback' not in p.stderr
    p = rca(tmp_path, 'train', '--logs', tmp_path, '--window', '0', '--no-mlflow')
    assert p.returncode == 2 and 'window must be at least 1' in p.stderr


@pytest.fixture
def mlflow_server(tmp_path):
    "A real `mlflow server` process on a free loopback port, with its own SQLite store and artifact folder."
    port, log = free_port(), tmp_path / 'server.log'
    with open(log, 'w') as out:
        proc = subprocess.Popen([str(BIN / 'mlflow'), 'server', '--host', '127.0.0.1', '--port', str(port), '--workers', '1',
                                 '--backend-store-uri', f"sqlite:///{tmp_path / 'server.db'}",
                                 '--artifacts-destination', str(tmp_path / 'server-artifacts')],
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_http(f'http://127.0.0.1:{port}/health', proc, log)
        yield f'http://127.0.0.1:{port}'
    finally:
        stop(proc)


def test_tracking_server_process(logs, tmp_path, mlflow_server):
    p = rca(tmp_path, 'train', '--logs', logs / 'normal', *TINY, '--experiment', 'server-test',
               env={'MLFLOW_TRACKING_URI': mlflow_server})
    assert p.returncode == 0, p.stderr
    assert 'registered lstm_model version 1' in p.stdout and not (tmp_path / 'mlflow.db').exists()
    import urllib.request
    with urllib.request.urlopen(f'{mlflow_server}/api/2.0/mlflow/model-versions/get?name=lstm_model&version=1', timeout=10) as r:
        mv = json.loads(r.read())['model_version']
    assert mv['tags'] and any(t['key'] == 'data_fingerprint' for t in mv['tags'])
    from openstack_rca.tracking import load_scorer, using_store
    with using_store(mlflow_server):
        assert load_scorer('models:/lstm_model/1').config.window == 10


def test_papermill_run_of_the_training_notebook(logs, tmp_path):
    "The parameterised notebook runs under papermill, as a user would run it, and trains through the package."
    import papermill
    from pathlib import Path
    nb = Path(__file__).resolve().parents[1] / 'nbs' / '_train.ipynb'
    out = tmp_path / 'executed.ipynb'
    env_before = os.environ.get('MLFLOW_TRACKING_URI')
    papermill.execute_notebook(str(nb), str(out), cwd=str(tmp_path), progress_bar=False,
                               parameters=dict(logs=str(logs / 'normal'), no_mlflow=True, epochs=2, lstm_units=8,
                                               num_layers=1, embedding_dim=8))
    executed = json.loads(out.read_text())
    assert any('injected-parameters' in c['metadata'].get('tags', []) for c in executed['cells'])
    assert (tmp_path / 'models' / 'lstm_model_v1' / 'MLmodel').exists()
    assert os.environ.get('MLFLOW_TRACKING_URI') == env_before


def test_sweep_two_by_one(logs, tmp_path):
    p = rca(tmp_path, 'sweep', '--logs', logs / 'normal', '--quiet', '-p', 'lstm_units', '8', '16',
               '-p', 'epochs', '2', '-p', 'num_layers', '1', '--notebook',
               os.path.join(os.path.dirname(__file__), '..', 'nbs', '_train.ipynb'))
    assert p.returncode == 0, p.stderr[-3000:]
    assert ': 2 runs' in p.stdout
    db = sqlite3.connect(tmp_path / 'mlflow.db')
    runs = dict(db.execute('select run_uuid, name from runs').fetchall())
    parents = [r for r, n in runs.items() if n.endswith('_sweep')]
    assert len(parents) == 1 and len(runs) == 3
    kids = [r for (r,) in db.execute("select run_uuid from tags where key = 'mlflow.parentRunId' and value = ?", (parents[0],))]
    assert len(kids) == 2
    notebooks = sorted((tmp_path / 'runs' / 'sweeps').glob('*/*.ipynb'))
    assert [n.name for n in notebooks] == ['00_lstm_units-8_epochs-2_num_layers-1.ipynb', '01_lstm_units-16_epochs-2_num_layers-1.ipynb']
    for k in kids:                                   # each child run holds its executed notebook
        assert len(list((tmp_path / 'mlartifacts').rglob(f'{k}/artifacts/notebook/*.ipynb'))) == 1, k
    assert db.execute("select count(*) from model_versions where name = 'lstm_model'").fetchone() == (2,)


def test_sweep_rejects_unknown_hyperparameters(logs, tmp_path):
    p = rca(tmp_path, 'sweep', '--logs', logs / 'normal', '-p', 'colour', 'red')
    assert p.returncode == 2 and 'unknown hyperparameter colour' in p.stderr
