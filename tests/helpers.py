"Running the `openstack-rca` console script as a user would: a clean environment plus what the test sets."
import os, subprocess, sys
from pathlib import Path

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
