"""Loading a model runs no code from its folder, names taken from users or data never leave their folder, secrets and
the issue text stay out of output and MLflow, and log text stays text: through the CLI, in fresh processes. (Manifests
and digests read from S3 are tested with the S3 server in test_models.py.) Also the seed's spellings of the switches."""
import pickle, shutil
from pathlib import Path
import pytest
from helpers import rca, ok

TINY = ['--epochs', '2', '--lstm-units', '8', '--num-layers', '1', '--embedding-dim', '4', '--quiet']


class Payload:
    "Unpickling this creates the folder `path`: the proof that a loader ran code from a model folder."
    def __init__(self, path): self.path = str(path)
    def __reduce__(self):
        import os
        return (os.mkdir, (self.path,))


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    d = tmp_path_factory.mktemp('trained')
    ok(rca(d, 'simulate', '--out', d / 'logs', '--seed', 7, '--minutes', 10, '--no-fault'))
    ok(rca(d, 'train', '--logs', d / 'logs', '--no-mlflow', *TINY))
    return d


@pytest.mark.parametrize('where', ['data/custom_objects.cloudpickle', 'data/global_custom_objects.cloudpickle',
                                   'extra_files/weights.bin'])
def test_a_pickle_in_a_model_folder_is_refused_and_never_run(trained, tmp_path, where):
    shutil.copytree(trained / 'models', tmp_path / 'models')
    marker = tmp_path / 'code-ran'
    (tmp_path / 'models' / 'lstm_model_v1' / where).write_bytes(pickle.dumps(Payload(marker), protocol=4))
    p = rca(tmp_path, 'analyze', '--logs', trained / 'logs', '--issue', 'instances fail', '--no-mlflow')
    assert not marker.exists(), 'loading the model ran code from its folder'
    assert p.returncode == 2 and 'refusing to load' in p.stderr and where in p.stderr, p.stderr
    assert len(p.stderr.strip().splitlines()) == 1 and 'Traceback' not in p.stderr


def test_a_link_in_a_model_folder_is_refused(trained, tmp_path):
    "A symbolic link in a model folder: refused, the link named."
    shutil.copytree(trained / 'models', tmp_path / 'models')
    (tmp_path / 'models' / 'lstm_model_v1' / 'extra_files' / 'templates.json').unlink()
    (tmp_path / 'models' / 'lstm_model_v1' / 'extra_files' / 'templates.json').symlink_to('/etc/hostname')
    p = rca(tmp_path, 'analyze', '--logs', trained / 'logs', '--issue', 'instances fail', '--no-mlflow')
    assert p.returncode == 2 and 'templates.json (a link)' in p.stderr, p.stderr


def test_the_untouched_model_still_loads(trained, tmp_path):
    "The same model without the planted files loads and full mode answers."
    shutil.copytree(trained / 'models', tmp_path / 'models')
    out = ok(rca(tmp_path, 'analyze', '--logs', trained / 'logs', '--issue', 'instances fail', '--no-mlflow'))
    assert 'mode full' in out


@pytest.mark.parametrize('name', ['../../escaped', '/tmp/escaped', 'a/b', '..'])
def test_a_model_name_that_leaves_its_folder_is_refused_before_training(trained, tmp_path, name):
    p = rca(tmp_path, 'train', '--logs', trained / 'logs', '--no-mlflow', '--register-as', name, *TINY)
    assert p.returncode == 2 and 'not allowed' in p.stderr and len(p.stderr.strip().splitlines()) == 1, p.stderr
    assert 'epoch' not in p.stdout.lower() and not (tmp_path / 'models').exists()
    assert not list(tmp_path.parent.glob('escaped*')) and not Path('/tmp/escaped_v1').exists()


def _files_holding(folder: Path, text: str) -> list[str]:
    return [str(p) for p in folder.rglob('*') if p.is_file() and text.encode() in p.read_bytes()]


@pytest.mark.parametrize('fmt', ['json', 'text'])
def test_the_issue_text_stays_out_of_mlflow_unless_asked(trained, tmp_path, fmt):
    issue = 'customer ACME-4471 reports that instances fail to boot'
    ok(rca(tmp_path, 'analyze', '--logs', trained / 'logs', '--issue', issue, '--fast', '--format', fmt))
    assert (tmp_path / 'mlflow.db').exists() and not _files_holding(tmp_path, 'ACME-4471')
    ok(rca(tmp_path, 'analyze', '--logs', trained / 'logs', '--issue', issue, '--fast', '--format', fmt, '--log-issue'))
    assert _files_holding(tmp_path, 'ACME-4471')                       # opted in: the run records it


def test_credentials_in_a_tracking_uri_are_never_printed(trained, tmp_path):
    "A tracking URI with user:password: errors and warnings show `***@`, never the password."
    from helpers import free_port
    uri = f'http://alice:s3cr3t@127.0.0.1:{free_port()}'
    p = rca(tmp_path, 'models', 'list', env={'MLFLOW_TRACKING_URI': uri})
    assert p.returncode == 2 and 'unreachable' in p.stderr and 'http://***@127.0.0.1' in p.stderr, p.stderr
    q = rca(tmp_path, 'analyze', '--logs', trained / 'logs', '--issue', 'instances fail', '--fast',
            env={'MLFLOW_TRACKING_URI': uri})
    assert q.returncode == 0 and 'inference not tracked' in q.stderr, q.stderr
    for out in (p.stdout, p.stderr, q.stdout, q.stderr): assert 's3cr3t' not in out


def test_the_seed_spellings_of_the_switches(trained, tmp_path):
    "--fast-mode, --disable-mlflow and --enable-mlflow work; --enable-mlflow wins over OPENSTACK_RCA_NO_MLFLOW."
    args = ['analyze', '--logs', trained / 'logs', '--issue', 'instances fail', '--fast-mode']
    out = ok(rca(tmp_path, *args, '--disable-mlflow'))
    assert 'mode fast' in out and not (tmp_path / 'mlflow.db').exists()
    ok(rca(tmp_path, *args, '--enable-mlflow', env={'OPENSTACK_RCA_NO_MLFLOW': '1'}))     # the flag wins
    assert (tmp_path / 'mlflow.db').exists()
    p = rca(tmp_path, *args, '--enable-mlflow', '--no-mlflow')
    assert p.returncode == 2 and 'not allowed with argument' in p.stderr


def test_five_analyses_at_once_on_a_new_embedded_store_all_succeed_and_are_recorded(trained, tmp_path):
    "Five `analyze` processes that all create the embedded store at once: all exit 0, five runs are recorded."
    import sqlite3, subprocess
    from helpers import BIN, clean_env
    procs = [subprocess.Popen([str(BIN / 'openstack-rca'), 'analyze', '--logs', str(trained / 'logs'), '--issue',
                               'instances fail', '--fast'], cwd=tmp_path, env=clean_env(), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(5)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0] * 5, [e for _, e in outs]
    assert sqlite3.connect(tmp_path / 'mlflow.db').execute('select count(*) from runs').fetchone() == (5,)
