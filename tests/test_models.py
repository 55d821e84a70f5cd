"""Model versions in S3 and the registry, through the CLI, against real servers: moto's S3 server on a loopback port (over
HTTP, as boto3 reaches any S3 service), the embedded MLflow store and an `mlflow server` process, `mlflow models serve`."""
import json, os, re, shutil, subprocess, sys, urllib.request
from pathlib import Path
import pytest

boto3 = pytest.importorskip('boto3')
from moto.server import ThreadedMotoServer

from helpers import BIN, clean_env, rca, ok, free_port, wait_http, stop
GOOD = ['--epochs', '20', '--quiet']                     # small, and good enough to pass validation (F1 >= 0.8)
TINY = ['--epochs', '3', '--lstm-units', '16', '--num-layers', '1', '--embedding-dim', '8', '--quiet']



@pytest.fixture(scope='module')
def s3():
    "moto's S3 server in a thread on a free loopback port; state survives stop/start (a restarted endpoint)."
    import logging
    logging.getLogger('werkzeug').setLevel(logging.ERROR)
    port = free_port()
    server = ThreadedMotoServer(ip_address='127.0.0.1', port=port, verbose=False)
    server.start()
    url = f'http://127.0.0.1:{port}'
    yield {'url': url, 'server': server, 'port': port}
    try: server.stop()
    except Exception: pass


@pytest.fixture
def bucket(s3, request):
    "A fresh bucket per test, so tests do not see each other's versions."
    name = 'rca-' + request.node.name.replace('_', '-').lower()[:40].strip('-')
    client(s3).create_bucket(Bucket=name)
    return name


def client(s3):
    return boto3.client('s3', endpoint_url=s3['url'], aws_access_key_id='testing', aws_secret_access_key='testing', region_name='us-east-1')


def s3_env(s3, bucket, cwd, **extra):
    "The environment a user sets for S3 (the standard variables), with the embedded store and a private cache in `cwd`."
    return {'MLFLOW_S3_ENDPOINT_URL': s3['url'], 'AWS_ACCESS_KEY_ID': 'testing', 'AWS_SECRET_ACCESS_KEY': 'testing',
            'AWS_DEFAULT_REGION': 'us-east-1', 'MLFLOW_ARTIFACT_ROOT': f's3://{bucket}/openstack',
            'OPENSTACK_RCA_CACHE': str(Path(cwd) / 'cache'), **extra}


def keys(s3, bucket, prefix=''):
    pages = client(s3).get_paginator('list_objects_v2').paginate(Bucket=bucket, Prefix=prefix)
    return [o['Key'] for page in pages for o in page.get('Contents', [])]


@pytest.fixture(scope='module')
def logs(tmp_path_factory):
    d = tmp_path_factory.mktemp('logs')
    ok(rca(d, 'simulate', '--out', d / 'normal', '--seed', 41, '--minutes', 30, '--no-fault'))
    return d / 'normal'


@pytest.fixture(scope='module')
def saved_model(logs, tmp_path_factory):
    "An MLflow model folder from an untracked training (what `train --no-mlflow` leaves under models/)."
    d = tmp_path_factory.mktemp('saved')
    ok(rca(d, 'train', '--logs', logs, '--no-mlflow', *TINY))
    return d / 'models' / 'lstm_model_v1'




def test_flow_train_validate_promote_load_serve(s3, bucket, logs, tmp_path):
    "The issue's flow: train (S3) → models list → validate → promote → load @production → mlflow models serve."
    env = s3_env(s3, bucket, tmp_path)
    out = ok(rca(tmp_path, 'train', '--logs', logs, *GOOD, env=env))
    assert 'registered lstm_model version 1' in out
    folder = 'openstack/openstack-rca-system-staging_0001/models/lstm_model_v1/'
    assert f'model files: s3://{bucket}/{folder[:-1]}' in out
    all_keys = keys(s3, bucket)
    model_files = [k for k in all_keys if k.endswith('model.keras')]
    assert model_files == [folder + 'data/model.keras'], model_files          # exactly one copy of the model bytes
    assert folder + 'MLmodel' in all_keys and folder + '_manifest.json' in all_keys
    run_folders = {k.split('/')[1] for k in all_keys if k.split('/')[1].count('_') == 2}
    assert len(run_folders) == 1 and any(k.endswith('/plots/training_curve.png') for k in all_keys)
    manifest = json.loads(client(s3).get_object(Bucket=bucket, Key=folder + '_manifest.json')['Body'].read())
    head = client(s3).head_object(Bucket=bucket, Key=folder + 'data/model.keras')
    assert head['Metadata']['sha256'] == manifest['files']['data/model.keras']['sha256']

    listing = json.loads(ok(rca(tmp_path, 'models', 'list', '--json', env=env)))
    assert [(r['version'], r['source']) for r in listing] == [(1, f's3://{bucket}/{folder[:-1]}')]
    details = json.loads(ok(rca(tmp_path, 'models', 'details', '--version', 1, '--json', env=env)))
    assert details['tags']['sha256'] == manifest['sha256'] and details['run_id'] and details['metrics']['epochs_run'] == 20

    # the approval gate: an impossible threshold fails, says which, and promotes nothing
    p = rca(tmp_path, 'models', 'validate', '--version', 1, '--min-f1', '1.01', env=env)
    assert p.returncode == 2 and 'f1 ' in p.stderr and '< 1.01' in p.stderr and 'not promoted' in p.stderr, p.stderr
    assert 'Traceback' not in p.stderr
    assert json.loads(ok(rca(tmp_path, 'models', 'list', '--json', env=env)))[0]['aliases'] == ''
    out = ok(rca(tmp_path, 'models', 'validate', '--version', 1, env=env))
    assert 'passed validation' in out and 'promoted to @production' in out
    tags = json.loads(ok(rca(tmp_path, 'models', 'details', '--version', 1, '--json', env=env)))['tags']
    assert tags['validation.status'] == 'passed' and float(tags['validation.f1']) >= 0.8 and tags['stage'] == 'production'

    # a second version, promoted through staging: the old production version is archived
    ok(rca(tmp_path, 'train', '--logs', logs, *TINY, env=env))
    ok(rca(tmp_path, 'models', 'promote', '--version', 2, '--to', 'staging', env=env))
    out = ok(rca(tmp_path, 'models', 'promote', '--version', 2, '--to', 'production', env=env))
    assert 'v2 is now @production (was v1); v1 archived' in out
    rows = {r['version']: r for r in json.loads(ok(rca(tmp_path, 'models', 'list', '--json', env=env)))}
    assert (rows[2]['aliases'], rows[1]['stage']) == ('@production', 'archived')
    out = ok(rca(tmp_path, 'models', 'compare', '--versions', 1, 2, env=env))
    assert 'final_loss' in out and 'drift above 5% against v1' in out
    ok(rca(tmp_path, 'models', 'promote', '--version', 1, '--to', 'production', env=env))      # roll back for serving below

    # analyze-ready load by @production, with provenance
    prov = json.loads(ok(rca(tmp_path, 'models', 'load', '--ref', '@production', '--json', env=env)))
    assert (prov['version'], prov['via'], prov['sha256']) == (1, 'registry', manifest['sha256'])

    # experiments cleanup keeps the run behind the aliased version
    out = ok(rca(tmp_path, 'experiments', 'cleanup', '--keep', 1, '--dry-run', env=env))
    assert 'keep run' in out and 'produced an aliased model version' in out

    # plain MLflow serves the production version from S3
    port = free_port()
    e = clean_env()
    e.update(env, MLFLOW_TRACKING_URI=f"sqlite:///{tmp_path / 'mlflow.db'}", PATH=f"{BIN}{os.pathsep}{e.get('PATH', '')}")  # uvicorn
    log = tmp_path / 'serve.log'
    proc = subprocess.Popen([str(BIN / 'mlflow'), 'models', 'serve', '-m', 'models:/lstm_model@production', '--env-manager', 'local',
                             '-h', '127.0.0.1', '-p', str(port)], cwd=tmp_path, env=e, stdout=open(log, 'w'), stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        wait_http(f'http://127.0.0.1:{port}/ping', proc, log)
        vocab = json.loads((Path(prov['path']) / 'extra_files' / 'vocabulary.json').read_text())
        req = urllib.request.Request(f'http://127.0.0.1:{port}/invocations', data=json.dumps({'inputs': [[2] * 10, [3] * 10]}).encode(),
                                     headers={'Content-Type': 'application/json'})
        with urllib.request.urlopen(req, timeout=60) as r: preds = json.loads(r.read())['predictions']
        assert len(preds) == 2 and abs(sum(preds[0]) - 1) < 1e-3                  # next-template probabilities per window
        assert len(preds[0]) == len(vocab['template_ids']) + 2                     # index 0: padding, 1: unseen template
    finally:
        stop(proc)


def test_train_with_s3_down_keeps_the_model_and_publish_works_later(s3, bucket, logs, tmp_path):
    """S3 unreachable during train: the model is kept under models/, one line says how to publish it, nothing is
    registered; publishing later works."""
    env = s3_env(s3, bucket, tmp_path, MLFLOW_S3_ENDPOINT_URL=f'http://127.0.0.1:{free_port()}')      # nothing listens there
    p = rca(tmp_path, 'train', '--logs', logs, *TINY, env=env)
    assert p.returncode == 2 and 'unreachable' in p.stderr and 'models publish --path models/lstm_model_v1' in p.stderr, p.stderr
    assert len(p.stderr.strip().splitlines()) == 1 and (tmp_path / 'models' / 'lstm_model_v1' / 'MLmodel').is_file()
    assert json.loads(ok(rca(tmp_path, 'models', 'list', '--json', env=env))) == []      # nothing was registered
    env = s3_env(s3, bucket, tmp_path)
    out = ok(rca(tmp_path, 'models', 'publish', '--path', 'models/lstm_model_v1', env=env))
    assert 'published lstm_model version 1' in out
    assert any(k.endswith('_0001/models/lstm_model_v1/_manifest.json') for k in keys(s3, bucket))


def test_s3_stopped_during_publish(s3, bucket, saved_model, tmp_path, monkeypatch):
    "The endpoint stops after the first model file: no visible version (registry or S3 scan), one clear error, a later retry works."
    from openstack_rca.logs import RCAError
    from openstack_rca.registry import publish_version, list_versions
    from openstack_rca.storage import S3Store
    for k, v in s3_env(s3, bucket, tmp_path, MLFLOW_TRACKING_URI=f"sqlite:///{tmp_path / 'mlflow.db'}").items(): monkeypatch.setenv(k, v)
    store = S3Store()
    puts = []
    def stop_on_second_file(**kw):
        puts.append(kw.get('params', {}).get('Key') if isinstance(kw.get('params'), dict) else None)
        if len(puts) == 3: s3['server'].stop()       # 1: the lock, 2: the first file, 3: S3 is gone
    store.client.meta.events.register('before-call.s3.PutObject', stop_on_second_file)
    try:
        with pytest.raises(RCAError, match='unreachable'):
            publish_version(saved_model, store=store)
    finally:
        if len(puts) >= 3: s3['server'].start()
    store.client.meta.events.unregister('before-call.s3.PutObject', stop_on_second_file)
    assert len(puts) == 3
    assert list_versions('lstm_model').empty                                    # not in the registry
    assert S3Store().latest_version('lstm_model') is None                       # not to an S3 scan either
    assert any('_0001/models/lstm_model_v1/' in k for k in keys(s3, bucket))    # the partial upload is there ...
    mv = publish_version(saved_model, store=S3Store())                          # ... and the retry replaces it
    assert int(mv.version) == 1
    n, folder, manifest = S3Store().latest_version('lstm_model')
    assert n == 1 and sorted(manifest['files']) == sorted(p.relative_to(saved_model).as_posix() for p in saved_model.rglob('*') if p.is_file())
    assert not any('_locks/' in k for k in keys(s3, bucket))                    # the abandoned lock was broken and released


def test_two_concurrent_publishes(s3, bucket, saved_model, tmp_path):
    "Two publishes at once get versions 1 and 2, each in its own folder with its own manifest."
    env = s3_env(s3, bucket, tmp_path)
    e = clean_env()
    e.update(env)
    # create the store first so both processes find it (the embedded store is created by the first writer)
    subprocess.run([sys.executable, '-c', 'import mlflow; mlflow.MlflowClient("sqlite:///mlflow.db").search_experiments()'], cwd=tmp_path, env=e, check=True)
    procs = [subprocess.Popen([str(BIN / 'openstack-rca'), 'models', 'publish', '--path', str(saved_model)], cwd=tmp_path, env=e,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    versions = sorted(int(o.split('version ')[1].split(':')[0]) for o, _ in outs)
    assert versions == [1, 2]
    listing = json.loads(ok(rca(tmp_path, 'models', 'list', '--json', env=env)))
    for r in listing:                                                            # each version in its own folder, numbers agree
        assert r['source'].endswith(f"_{r['version']:04d}/models/lstm_model_v{r['version']}")
    manifests = [k for k in keys(s3, bucket) if k.endswith('_manifest.json')]
    assert len(manifests) == 2


def test_corruption_and_tracking_down(s3, bucket, saved_model, tmp_path):
    """Tracking server down: the S3 scan finds the latest version (and says why); corrupted weights: latest falls
    back to the previous verified version and says so; asking for the corrupted one is a one-line error; a copy
    verified before still loads from the cache."""
    env = s3_env(s3, bucket, tmp_path)
    for _ in range(2): ok(rca(tmp_path, 'models', 'publish', '--path', saved_model, env=env))
    # the tracking server is down: the S3 scan finds the latest complete version
    down = dict(env, MLFLOW_TRACKING_URI=f'http://127.0.0.1:{free_port()}')
    prov = json.loads(ok(rca(tmp_path, 'models', 'load', '--json', env=down)))
    assert (prov['version'], prov['via']) == (2, 's3-scan') and 'unreachable' in prov['notes'][0]
    # v2's weights are corrupted in S3; a fresh cache: latest falls back to v1 (the registry's next one) and says why
    key = next(k for k in keys(s3, bucket) if k.endswith('_0002/models/lstm_model_v2/data/model.keras'))
    client(s3).put_object(Bucket=bucket, Key=key, Body=b'not a keras file')
    fresh = dict(env, OPENSTACK_RCA_CACHE=str(tmp_path / 'cache2'))
    p = rca(tmp_path, 'models', 'load', env=fresh)
    assert p.returncode == 0 and 'lstm_model v1 via registry' in p.stdout, p.stdout + p.stderr
    assert 'v2 skipped: sha256 mismatch' in p.stdout, p.stdout
    p = rca(tmp_path, 'models', 'load', '--ref', '2', env=fresh)
    assert p.returncode == 2 and 'sha256 mismatch' in p.stderr and len(p.stderr.strip().splitlines()) == 1
    # the first cache verified v2 before the corruption: it still loads, without downloading
    prov = json.loads(ok(rca(tmp_path, 'models', 'load', '--ref', '2', '--json', env=env)))
    assert (prov['version'], prov['cache_hit']) == (2, True)


def test_cleanup_never_deletes_an_aliased_version(s3, bucket, saved_model, tmp_path):
    """cleanup --keep 1 (and --dry-run) keeps every version holding an alias and deletes the others with their S3
    folders."""
    env = s3_env(s3, bucket, tmp_path)
    for _ in range(4): ok(rca(tmp_path, 'models', 'publish', '--path', saved_model, env=env))
    ok(rca(tmp_path, 'models', 'promote', '--version', 1, '--to', 'production', env=env))
    ok(rca(tmp_path, 'models', 'promote', '--version', 2, '--to', 'staging', env=env))
    before = keys(s3, bucket)
    out = ok(rca(tmp_path, 'models', 'cleanup', '--keep', 1, '--dry-run', env=env))
    assert out.splitlines() == ['would delete v3 (s3://%s/openstack/openstack-rca-system-staging_0003/models/lstm_model_v3)' % bucket,
                                'keep v2: holds @staging', 'keep v1: holds @production']
    assert keys(s3, bucket) == before and len(json.loads(ok(rca(tmp_path, 'models', 'list', '--json', env=env)))) == 4
    ok(rca(tmp_path, 'models', 'cleanup', '--keep', 1, env=env))
    assert [r['version'] for r in json.loads(ok(rca(tmp_path, 'models', 'list', '--json', env=env)))] == [4, 2, 1]
    tops = {k.split('/')[1] for k in keys(s3, bucket)}
    assert 'openstack-rca-system-staging_0003' not in tops and {'openstack-rca-system-staging_0001', 'openstack-rca-system-staging_0004'} <= tops
    export = tmp_path / 'registry.json'
    ok(rca(tmp_path, 'models', 'export', '--out', export, env=env))
    assert json.loads(export.read_text())['models'][0]['aliases'] == {'production': 1, 'staging': 2}
    p = rca(tmp_path, 'models', 'archive', '--version', 1, env=env)
    assert p.returncode == 2 and 'promote another version to production first' in p.stderr


def test_multipart_upload_is_verified(s3, bucket, saved_model, tmp_path):
    "A multipart upload keeps each object's sha256 and the downloaded file is whole."
    big = tmp_path / 'big_model'
    shutil.copytree(saved_model, big)
    (big / 'extra_files' / 'padding.bin').write_bytes(os.urandom(12 * 1024 * 1024))
    env = s3_env(s3, bucket, tmp_path)
    ok(rca(tmp_path, 'models', 'publish', '--path', big, '--multipart-threshold', '5MB', '--multipart-chunksize', '5MB', env=env))
    key = next(k for k in keys(s3, bucket) if k.endswith('padding.bin'))
    head = client(s3).head_object(Bucket=bucket, Key=key)
    assert head['ETag'].strip('"').endswith('-3') and len(head['Metadata']['sha256']) == 64     # 3 parts of 5 MB, sha256 kept
    prov = json.loads(ok(rca(tmp_path, 'models', 'load', '--ref', 1, '--json', env=env)))
    assert (Path(prov['path']) / 'extra_files' / 'padding.bin').stat().st_size == 12 * 1024 * 1024


def test_s3_errors_are_one_line(s3, saved_model, tmp_path):
    "A missing bucket, a root that is neither S3 nor a folder, and a missing model: one line each, exit 2."
    env = s3_env(s3, 'no-such-bucket', tmp_path)
    p = rca(tmp_path, 'models', 'publish', '--path', saved_model, env=env)
    assert p.returncode == 2 and 'bucket does not exist' in p.stderr and len(p.stderr.strip().splitlines()) == 1, p.stderr
    p = rca(tmp_path, 'models', 'publish', '--path', saved_model, env=dict(env, MLFLOW_ARTIFACT_ROOT='ftp://host/not-s3'))
    assert p.returncode == 2 and 's3://bucket/prefix, file:///path or a folder' in p.stderr, p.stderr
    p = rca(tmp_path, 'models', 'load', env=env)
    assert p.returncode == 2 and 'no model lstm_model latest found' in p.stderr and 'openstack-rca train' in p.stderr


@pytest.fixture(params=['proxied', 'direct'])
def mlflow_server_s3(s3, tmp_path, request):
    """`mlflow server` over S3: 'proxied' (--artifacts-destination: the server writes run artifacts) or 'direct'
    (--no-serve-artifacts --default-artifact-root: clients write to S3 themselves)."""
    bucket = f'rca-server-{request.param}'
    client(s3).create_bucket(Bucket=bucket)
    mode = (['--artifacts-destination', f's3://{bucket}/mlflow'] if request.param == 'proxied'
            else ['--no-serve-artifacts', '--default-artifact-root', f's3://{bucket}/mlflow'])
    port = free_port()
    e = clean_env()
    e.update(s3_env(s3, bucket, tmp_path))
    log = tmp_path / 'server.log'
    proc = subprocess.Popen([str(BIN / 'mlflow'), 'server', '--host', '127.0.0.1', '--port', str(port), '--workers', '1',
                             '--backend-store-uri', f"sqlite:///{tmp_path / 'server.db'}", *mode],
                            env=e, stdout=open(log, 'w'), stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_http(f'http://127.0.0.1:{port}/health', proc, log)
        yield f'http://127.0.0.1:{port}', bucket
    finally:
        stop(proc)


def test_mlflow_server_with_s3_artifacts_destination(s3, logs, tmp_path, mlflow_server_s3):
    "A shared `mlflow server` with S3 artifacts (proxied or direct): train, register and load work end to end."
    url, bucket = mlflow_server_s3
    env = s3_env(s3, bucket, tmp_path / 'client', MLFLOW_TRACKING_URI=url, MLFLOW_ARTIFACT_ROOT=f's3://{bucket}/models')
    (tmp_path / 'client').mkdir()
    out = ok(rca(tmp_path / 'client', 'train', '--logs', logs, *TINY, '--experiment', 'server-s3', env=env))
    assert 'registered lstm_model version 1' in out and not (tmp_path / 'client' / 'mlflow.db').exists()
    all_keys = keys(s3, bucket)
    assert any(k.startswith('mlflow/') and k.endswith('plots/training_curve.png') for k in all_keys)       # the run's artifacts
    assert 'models/server-s3_0001/models/lstm_model_v1/_manifest.json' in all_keys                         # published by the client
    assert sum(k.endswith('model.keras') for k in all_keys) == 1
    with urllib.request.urlopen(f'{url}/api/2.0/mlflow/model-versions/get?name=lstm_model&version=1', timeout=10) as r:
        mv = json.loads(r.read())['model_version']
    assert mv['source'] == f's3://{bucket}/models/server-s3_0001/models/lstm_model_v1' and mv['run_id']
    ok(rca(tmp_path / 'client', 'models', 'promote', '--version', 1, '--to', 'production', env=env))
    prov = json.loads(ok(rca(tmp_path / 'client', 'models', 'load', '--ref', 'production', '--json', env=env)))
    assert (prov['version'], prov['via']) == (1, 'registry')


def test_manifests_and_caches_are_not_trusted(s3, bucket, saved_model, tmp_path):
    """The registry's sha256 is the reference: a manifest never vouches for itself, its paths stay in their folder,
    and a cached copy that differs from what was verified is evicted, not loaded."""
    import hashlib
    from openstack_rca.storage import manifest_digest
    sha = lambda b: hashlib.sha256(b).hexdigest()
    env = s3_env(s3, bucket, tmp_path)
    ok(rca(tmp_path, 'models', 'publish', '--path', saved_model, env=env))
    cached = Path(json.loads(ok(rca(tmp_path, 'models', 'load', '--json', env=env)))['path'])
    # a pickle dropped into the verified cache copy: evicted and downloaded again, never loaded
    (cached / 'data' / 'custom_objects.cloudpickle').write_bytes(b'\x80\x04N.')
    prov = json.loads(ok(rca(tmp_path, 'models', 'load', '--json', env=env)))
    assert prov['cache_hit'] is False and not (Path(prov['path']) / 'data' / 'custom_objects.cloudpickle').exists()
    # the weights replaced in S3 and the manifest's entry changed to match, its digest left as registered
    folder = next(k for k in keys(s3, bucket) if k.endswith('/_manifest.json')).rsplit('/', 1)[0] + '/'
    get = lambda k: client(s3).get_object(Bucket=bucket, Key=k)['Body'].read()
    put = lambda k, body: client(s3).put_object(Bucket=bucket, Key=k, Body=body)
    m, evil = json.loads(get(folder + '_manifest.json')), b'not the registered model'
    put(folder + 'data/model.keras', evil)
    m['files']['data/model.keras'] = {'sha256': sha(evil), 'size': len(evil)}
    put(folder + '_manifest.json', json.dumps(m))
    fresh = dict(env, OPENSTACK_RCA_CACHE=str(tmp_path / 'cache2'))
    p = rca(tmp_path, 'models', 'load', '--ref', '1', env=fresh)
    assert p.returncode == 2 and 'is not the digest of the files it lists' in p.stderr, p.stderr
    # ... and with the manifest's digest recomputed too: it is not the registry's
    m['sha256'] = manifest_digest(m['files'])
    put(folder + '_manifest.json', json.dumps(m))
    p = rca(tmp_path, 'models', 'load', '--ref', '1', env=fresh)
    assert p.returncode == 2 and 'differs from the registered one' in p.stderr, p.stderr
    # a manifest path that leaves its folder (the registry down, so the S3 scan reads it): nothing is written
    m['files']['../../../../escaped.txt'] = {'sha256': sha(b'x'), 'size': 1}
    m['sha256'] = manifest_digest(m['files'])
    put(folder + '_manifest.json', json.dumps(m))
    put(folder + '../../../../escaped.txt', b'x')
    down = dict(fresh, MLFLOW_TRACKING_URI=f'http://127.0.0.1:{free_port()}')
    p = rca(tmp_path, 'models', 'load', '--ref', '1', env=down)
    assert p.returncode == 2 and 'escapes its folder' in p.stderr, p.stderr
    assert not list(tmp_path.rglob('escaped.txt')) and not (tmp_path.parent / 'escaped.txt').exists()


def test_cleanup_deletes_only_the_folders_it_owns(s3, bucket, saved_model, tmp_path):
    """A version whose source is the artifact root itself (or anything not laid out as that version's folder): its
    registry entry goes, its S3 prefix stays, and cleanup says why."""
    import mlflow
    env = s3_env(s3, bucket, tmp_path)
    c = mlflow.MlflowClient(f'sqlite:///{tmp_path / "mlflow.db"}')
    c.create_registered_model('lstm_model')
    c.create_model_version('lstm_model', source=f's3://{bucket}/openstack', tags={'sha256': '0' * 64})   # v1: the root
    for _ in range(2): ok(rca(tmp_path, 'models', 'publish', '--path', saved_model, env=env))      # v2, v3
    out = ok(rca(tmp_path, 'models', 'cleanup', '--keep', 1, env=env))
    assert f'not removing s3://{bucket}/openstack: it is not the folder of lstm_model v1' in out, out
    tops = {k.split('/')[1] for k in keys(s3, bucket)}
    assert 'openstack-rca-system-staging_0003' in tops and 'openstack-rca-system-staging_0002' not in tops, tops
    assert [r['version'] for r in json.loads(ok(rca(tmp_path, 'models', 'list', '--json', env=env)))] == [3]
    assert ok(rca(tmp_path, 'models', 'load', '--json', env=env))


def test_artifact_root_flag_alone_reaches_every_layer(s3, bucket, logs, tmp_path):
    """`train --artifact-root s3://...` publishes there with no MLFLOW_ARTIFACT_ROOT in the environment (the flag used to
    be dropped below the CLI), and `models load --artifact-root` finds it by a scan when the registry is down."""
    env = {k: v for k, v in s3_env(s3, bucket, tmp_path).items() if k != 'MLFLOW_ARTIFACT_ROOT'}
    out = ok(rca(tmp_path, 'train', '--logs', logs, *TINY, '--artifact-root', f's3://{bucket}/flag', env=env))
    assert 'registered lstm_model version 1' in out and f'model files: s3://{bucket}/flag/' in out, out
    assert any(k.startswith('flag/') and k.endswith('lstm_model_v1/_manifest.json') for k in keys(s3, bucket))
    down = dict(env, MLFLOW_TRACKING_URI='http://127.0.0.1:9')
    prov = json.loads(ok(rca(tmp_path, 'models', 'load', '--artifact-root', f's3://{bucket}/flag', '--json', env=down)))
    assert (prov['version'], prov['via']) == (1, 's3-scan'), prov


def test_local_folder_artifact_root(logs, tmp_path):
    """No S3 at all: `--artifact-root FOLDER` gives the same version folders, manifests, registry digests, fallbacks and
    cleanup as S3."""
    env = {'OPENSTACK_RCA_CACHE': str(tmp_path / 'cache')}
    store = tmp_path / 'store'
    for _ in range(2): ok(rca(tmp_path, 'train', '--logs', logs, *TINY, '--artifact-root', 'store', env=env))
    v2 = store / 'openstack-rca-system-staging_0002' / 'models' / 'lstm_model_v2'
    manifest = json.loads((v2 / '_manifest.json').read_text())
    assert 'data/model.keras' in manifest['files'] and (v2 / 'MLmodel').is_file()
    v1 = store / 'openstack-rca-system-staging_0001' / 'models' / 'lstm_model_v1'
    names = sorted(p.name for p in store.iterdir())               # two versions, then the two runs' folders
    assert names[:2] == [v1.parents[1].name, v2.parents[1].name] and len(names) == 4, names
    assert all(re.fullmatch(r'openstack-rca-system-staging_\d{8}_\d{6}(-\d+)?', n) for n in names[2:]), names
    listed = json.loads(ok(rca(tmp_path, 'models', 'list', '--json', env=env)))
    assert [v['source'] for v in listed] == [v2.resolve().as_uri(), v1.resolve().as_uri()], listed
    prov = json.loads(ok(rca(tmp_path, 'models', 'load', '--json', '--artifact-root', 'store', env=env)))
    assert (prov['version'], prov['via']) == (2, 'registry'), prov
    (v2 / 'data' / 'model.keras').write_bytes(b'changed after publishing')
    shutil.rmtree(tmp_path / 'cache')
    prov = json.loads(ok(rca(tmp_path, 'models', 'load', '--json', '--artifact-root', 'store', env=env)))
    assert (prov['version'], prov['via']) == (1, 'registry') and 'v2 skipped: sha256 mismatch' in prov['notes'][0], prov
    down = dict(env, MLFLOW_TRACKING_URI='http://127.0.0.1:9')
    prov = json.loads(ok(rca(tmp_path, 'models', 'load', '--json', '--artifact-root', 'store', env=down)))
    assert (prov['version'], prov['via']) == (1, 'folder-scan'), prov
    out = ok(rca(tmp_path, 'models', 'cleanup', '--keep', '1', env=dict(env, MLFLOW_ARTIFACT_ROOT=str(store))))
    assert 'delete v1' in out and not (store / 'openstack-rca-system-staging_0001').exists(), out


def _runs(db) -> list[tuple]:
    "(run_id, status) of every run in an MLflow sqlite store, read directly (the server may be gone)."
    import sqlite3
    try:
        with sqlite3.connect(f'file:{db}?mode=ro', uri=True, timeout=1) as c:
            return c.execute('select run_uuid, status from runs').fetchall()
    except sqlite3.Error: return []


def _loss_logged(db) -> bool:
    import sqlite3
    try:
        with sqlite3.connect(f'file:{db}?mode=ro', uri=True, timeout=1) as c:
            return c.execute("select count(*) from metrics where key = 'loss'").fetchone()[0] > 0
    except sqlite3.Error: return False


def _mlflow_server(tmp_path, db, port):
    log = tmp_path / f'server-{port}.log'
    proc = subprocess.Popen([str(BIN / 'mlflow'), 'server', '--host', '127.0.0.1', '--port', str(port), '--workers', '1',
                             '--backend-store-uri', f'sqlite:///{db}', '--artifacts-destination', str(tmp_path / 'mlartifacts')],
                            env=clean_env(), stdout=open(log, 'w'), stderr=subprocess.STDOUT, start_new_session=True)
    wait_http(f'http://127.0.0.1:{port}/health', proc, log)
    return proc


def test_tracking_server_dies_mid_training(s3, bucket, logs, tmp_path):
    """The tracking server is killed while the model trains: the trained model is saved under models/, the command exits
    2 with the publish-later command, which keeps the lineage (--run-id) and works once a server is back."""
    import signal, time
    db, port = tmp_path / 'server.db', free_port()
    server = _mlflow_server(tmp_path, db, port)
    env = s3_env(s3, bucket, tmp_path, MLFLOW_TRACKING_URI=f'http://127.0.0.1:{port}')
    train = subprocess.Popen([str(BIN / 'openstack-rca'), 'train', '--logs', str(logs), '--epochs', '80', '--patience', '80',
                              '--lstm-units', '16', '--num-layers', '1', '--embedding-dim', '8', '--quiet'],
                             cwd=tmp_path, env=clean_env(**env), text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 300
        while not _loss_logged(db) and train.poll() is None and time.monotonic() < deadline: time.sleep(0.1)
        assert train.poll() is None, 'training ended before the server could be killed: ' + train.stderr.read()[-2000:]
        os.killpg(server.pid, signal.SIGKILL); server.wait()             # mid-training, without warning
        out, err = train.communicate(timeout=600)
    finally:
        if train.poll() is None: train.kill()
        stop(server)
    (run_id, status), = _runs(db)
    assert train.returncode == 2, (out[-2000:], err[-2000:])
    last = err.strip().splitlines()[-1]
    assert 'stopped answering' in last and f'models publish --path models/lstm_model_v1 --run-id {run_id}' in last, err
    assert (tmp_path / 'models' / 'lstm_model_v1' / 'MLmodel').is_file() and 'internal error' not in err
    server = _mlflow_server(tmp_path, db, port)                        # back: publish later, with its lineage
    try:
        ok(rca(tmp_path, 'models', 'publish', '--path', 'models/lstm_model_v1', '--run-id', run_id, env=env))
        details = json.loads(ok(rca(tmp_path, 'models', 'details', '--version', 1, '--json', env=env)))
        assert details['run_id'] == run_id and details['source'].startswith(f's3://{bucket}/openstack/'), details
    finally:
        stop(server)


def test_failed_publish_marks_the_run_failed(logs, tmp_path):
    "The tracking store answers but the artifact root cannot be written: the model is kept and the run ends FAILED."
    (tmp_path / 'blocker').write_text('a file where the artifact folder should be')
    env = {'OPENSTACK_RCA_CACHE': str(tmp_path / 'cache')}
    p = rca(tmp_path, 'train', '--logs', logs, *TINY, '--artifact-root', 'blocker/store', env=env)
    assert p.returncode == 2 and 'cannot be written' in p.stderr and '--run-id' in p.stderr, p.stderr
    assert (tmp_path / 'models' / 'lstm_model_v1' / 'MLmodel').is_file()
    (run_id, status), = _runs(tmp_path / 'mlflow.db')
    assert status == 'FAILED' and f'--run-id {run_id}' in p.stderr, (status, p.stderr)
    # a folder root with a tracking server, which would refuse to register it: said before any training
    p = rca(tmp_path, 'train', '--logs', logs, *TINY, '--artifact-root', 'store', env=dict(env, MLFLOW_TRACKING_URI='http://127.0.0.1:9'))
    assert p.returncode == 2 and 'use an s3:// artifact root' in p.stderr and 'trained on' not in p.stdout, p.stderr
