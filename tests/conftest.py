"Shared fixtures: the installed console script, a private parse cache, and the benchmark data (skipped when absent)."
import os, shutil, subprocess, sys
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope='session')
def cli():
    "Run `openstack-rca ARGS...` as a separate process; returns CompletedProcess (text)."
    exe = shutil.which('openstack-rca', path=str(Path(sys.executable).parent)) or shutil.which('openstack-rca')
    assert exe, 'openstack-rca console script not installed (run make test)'

    def run(*args, cache=None, check=False, timeout=300):
        env = dict(os.environ)
        if cache is not None: env['OPENSTACK_RCA_CACHE'] = str(cache)
        p = subprocess.run([exe, *map(str, args)], capture_output=True, text=True, env=env, timeout=timeout)
        if check: assert p.returncode == 0, f'exit {p.returncode}\nstdout:\n{p.stdout}\nstderr:\n{p.stderr}'
        return p
    return run


@pytest.fixture(scope='session')
def shared_data():
    "The benchmark data folder, or a visible skip when it is absent (a user's fresh clone)."
    env = os.environ.get('OPENSTACK_RCA_DATA')
    d = Path(env) if env else ROOT.parent / 'shared' / 'data'
    if not (d / 'loghub-openstack' / 'OpenStack_2k.log').is_file():
        pytest.skip(f'benchmark data not found in {d} (set OPENSTACK_RCA_DATA)')
    return d
