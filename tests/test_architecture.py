"""The design card's rules that code review alone would let slip: settings are resolved at the entry points only."""
import ast
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / 'openstack_rca'
# where reading or writing the environment is the point: the entry points, TensorFlow's process switches (set before
# it is imported), and the block that puts back the variable MLflow's set_tracking_uri changes
ALLOWED = {('core', '*'), ('cli', '*'), ('model', '<module>'), ('tracking', 'using_store')}


def _environment_uses(path: Path):
    "(function, line) of every os.environ / os.getenv / os.putenv use in a module."
    tree = ast.parse(path.read_text())
    scopes = {}
    for fn in ast.walk(tree):
        if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for n in ast.walk(fn): scopes.setdefault(id(n), fn.name)
    for n in ast.walk(tree):
        if (isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name) and n.value.id == 'os'
                and n.attr in ('environ', 'getenv', 'putenv', 'unsetenv')):
            yield scopes.get(id(n), '<module>'), n.lineno


def test_only_the_entry_points_read_the_environment():
    "No module below the CLI reads os.environ for configuration: they ask openstack_rca.core.current()."
    found = [f'{p.name}:{line} in {fn}' for p in sorted(PKG.glob('*.py')) if p.stem != '_modidx'
             for fn, line in _environment_uses(p) if (p.stem, '*') not in ALLOWED and (p.stem, fn) not in ALLOWED]
    assert not found, 'read the settings (openstack_rca.core.current()) instead of the environment: ' + ', '.join(found)
    assert list(_environment_uses(PKG / 'core.py')), 'the check looks at nothing: core.py resolves the environment'
