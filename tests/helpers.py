"Running the `openstack-rca` console script as a user would: a clean environment plus what the test sets."
import os, signal, subprocess, sys, time, urllib.request
from pathlib import Path

from openstack_rca.stack import free_port      # a port free on loopback now

BIN = Path(sys.executable).parent
# settings a developer's shell may carry that would change what a test sees
CLEAN_ENV = ('MLFLOW_TRACKING_URI', 'MLFLOW_ARTIFACT_ROOT', 'MLFLOW_S3_ENDPOINT_URL', 'OPENSTACK_RCA_NO_MLFLOW',
             'OPENSTACK_RCA_S3_MULTIPART_THRESHOLD', 'OPENSTACK_RCA_S3_MULTIPART_CHUNKSIZE')


def clean_env(**extra) -> dict:
    "The environment without CLEAN_ENV, plus `extra`."
    e = {k: v for k, v in os.environ.items() if k not in CLEAN_ENV}
    e.update(extra)
    return e


def rca(cwd, *args, env=None, timeout=600):
    "Run `openstack-rca ARGS` from `cwd` with `env` on top of a clean environment."
    return subprocess.run([str(BIN / 'openstack-rca'), *map(str, args)], cwd=cwd, capture_output=True, text=True,
                          env=clean_env(**(env or {})), timeout=timeout)


def ok(p):
    "The stdout of a run that must have succeeded (else its output, in the assertion)."
    assert p.returncode == 0, f'exit {p.returncode}\nstdout:\n{p.stdout[-3000:]}\nstderr:\n{p.stderr[-3000:]}'
    return p.stdout


def wait_http(url, proc, log, timeout=120):
    "Wait until `url` answers 200 while `proc` runs; fail with the end of its `log` file otherwise."
    import pytest
    for _ in range(timeout * 2):
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                if r.status == 200: return
        except Exception: time.sleep(0.5)
        if proc.poll() is not None: break
    pytest.fail(f'{url} did not come up: ' + Path(log).read_text()[-3000:])


def stop(proc):
    "Stop a server started with start_new_session=True, its children included."
    try: os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError: return
    try: proc.wait(timeout=20)
    except subprocess.TimeoutExpired: os.killpg(proc.pid, signal.SIGKILL); proc.wait()
