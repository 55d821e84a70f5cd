#!/usr/bin/env python
"""The docs' Reliability table: every probe of the trust tests (security, bad input, S3 and registry faults,
architecture) with its expected outcome, read from the tests themselves (the test's name says the outcome, its
docstring adds detail), so the table cannot say more than what is tested. Prints Markdown;
`nbs/reliability.ipynb` shows it and tests/test_docs.py checks that the page is up to date (`make reliability`
refreshes it)."""
import ast, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FILES = {'tests/test_security.py': 'security', 'tests/test_bad_input.py': 'bad input',
         'tests/test_models.py': 'S3 and registry faults', 'tests/test_architecture.py': 'architecture'}


def _cases(node: ast.FunctionDef) -> str:
    "The parameter values of a parametrized test, as the table shows them."
    for d in node.decorator_list:
        if isinstance(d, ast.Call) and getattr(d.func, 'attr', '') == 'parametrize' and len(d.args) > 1:
            try: values = ast.literal_eval(d.args[1])
            except ValueError: return ''
            return '; '.join(f'`{v}`' if not isinstance(v, tuple) else ', '.join(f'`{x}`' for x in v) for v in values)
    return ''


def probes():
    "(area, outcome, detail, test id) of every test in FILES, in file order."
    for rel, area in FILES.items():
        for node in ast.parse((ROOT / rel).read_text()).body:
            if isinstance(node, ast.FunctionDef) and node.name.startswith('test_'):
                doc = ' '.join((ast.get_docstring(node) or '').split())
                cases = _cases(node)
                detail = ' '.join(x for x in (doc, f'Cases: {cases}.' if cases else '') if x)
                yield area, node.name[len('test_'):].replace('_', ' '), detail, f'{Path(rel).name}::{node.name}'


def table() -> str:
    cell = lambda s: s.replace('|', '\\|')
    rows = ['| area | probe: expected outcome | details | test |', '|---|---|---|---|']
    rows += [f'| {a} | {cell(o)} | {cell(d)} | `{t}` |' for a, o, d, t in probes()]
    return '\n'.join(rows) + '\n'


if __name__ == '__main__':
    sys.stdout.write(table())
