"The `openstack-rca` command as a user runs it: help, simulate -> parse, errors as one line with a non-zero exit."
import json
import pandas as pd
import pytest

SUBCOMMANDS = ['simulate', 'parse', 'bench']


def test_help_lists_every_subcommand(cli):
    p = cli('--help', check=True)
    for sub in SUBCOMMANDS: assert sub in p.stdout
    for sub in SUBCOMMANDS:
        h = cli(sub, '--help', check=True)
        assert h.stdout.startswith('usage: openstack-rca ' + sub)


def test_no_command_is_a_usage_error(cli):
    p = cli()
    assert p.returncode == 2 and 'usage:' in p.stderr and 'Traceback' not in p.stderr


def test_simulate_then_parse(cli, tmp_path):
    logs = tmp_path / 'logs'
    p = cli('simulate', '--out', logs, '--seed', 11, '--minutes', 15, '--fault', 'messaging', '--fault', 'hypervisor', check=True)
    assert 'incident [messaging/' in p.stdout and 'incident [hypervisor/' in p.stdout
    labels = json.loads((logs / 'labels.json').read_text())
    assert [i['category'] for i in labels['incidents']] == ['messaging', 'hypervisor']
    out = tmp_path / 'records.csv'
    p = cli('parse', logs, '--out', out, '--templates', tmp_path / 't.json', '--quiet', cache=tmp_path / 'cache', check=True)
    assert 'parse report:' in p.stdout and 'records per service' in p.stdout and 'templates: ' in p.stdout
    df = pd.read_csv(out)
    for col in ['file', 'line', 'timestamp', 'service', 'pid', 'level', 'component', 'request_id', 'user_id',
                'project_id', 'instance_id', 'message', 'template_id', 'template']:
        assert col in df.columns, col
    assert len(df) == labels['records']
    for inc in labels['incidents']:                  # every labelled root cause is a parsed record at its file:line
        for r in inc['root_cause']:
            hit = df[df.file.str.endswith('/' + r['file']) & (df.line == r['line'])]
            assert hit.message.iloc[0].split('\n')[0] == r['message']
    state = json.loads((tmp_path / 't.json').read_text())
    assert state['format'] == 'openstack-rca/template-miner' and len(state['templates']) == df.template_id.nunique()
    p2 = cli('parse', logs, '--out', tmp_path / 'again.parquet', '--templates', tmp_path / 't.json', '--quiet',
             cache=tmp_path / 'cache', check=True)
    assert 'match-only' in p2.stdout
    assert pd.read_parquet(tmp_path / 'again.parquet').template_id.tolist() == df.template_id.tolist()
    big = tmp_path / 'big' / 'nova-compute.log'                # files of 256 kB and more are cached; small ones batched
    big.parent.mkdir()
    big.write_bytes(b''.join(f.read_bytes() for f in sorted(logs.glob('*.log'))) * 20)
    assert big.stat().st_size > 256 * 1024
    for again in (False, True):
        p3 = cli('parse', big.parent, '--out', tmp_path / 'big.csv', '--quiet', cache=tmp_path / 'cache', check=True)
        assert ('from cache' in p3.stdout) == again, p3.stdout


def test_simulate_loghub_layout_and_determinism(cli, tmp_path):
    for d in ('a', 'b'): cli('simulate', '--out', tmp_path / d, '--seed', 4, '--minutes', 10, '--loghub', check=True)
    a, b = (tmp_path / 'a' / 'openstack.log').read_bytes(), (tmp_path / 'b' / 'openstack.log').read_bytes()
    assert a == b and a.split(b' ', 1)[0].endswith(b'.log.1.2026-01-15_09:00:00')


@pytest.mark.parametrize('args, message', [
    (['parse', '/no/such/logs', '--out', 'x.csv'], 'no such file or directory'),
    (['simulate', '--out', '{tmp}/s', '--minutes', '1'], 'at least 5'),
    (['simulate', '--out', '{tmp}/s', '--fault', 'gremlins'], 'invalid choice'),
])
def test_errors_are_one_line(cli, tmp_path, args, message):
    p = cli(*[a.format(tmp=tmp_path) for a in args])
    assert p.returncode == 2, p
    assert message in p.stderr and 'Traceback' not in p.stderr
    assert len([l for l in p.stderr.splitlines() if 'error' in l]) == 1


def test_parse_rejects_unknown_output_format(cli, tmp_path):
    cli('simulate', '--out', tmp_path / 'l', '--minutes', 5, '--no-fault', check=True)
    p = cli('parse', tmp_path / 'l', '--out', tmp_path / 'r.xlsx', '--quiet', cache=tmp_path / 'c')
    assert p.returncode == 2 and '.csv or .parquet' in p.stderr and 'Traceback' not in p.stderr


def test_simulate_refuses_a_non_empty_folder(cli, tmp_path):
    (tmp_path / 'mine.txt').write_text('precious')
    p = cli('simulate', '--out', tmp_path)
    assert p.returncode == 2 and 'not empty' in p.stderr
    p = cli('simulate', '--out', tmp_path, '--force')
    assert p.returncode == 2 and 'did not write' in p.stderr and (tmp_path / 'mine.txt').read_text() == 'precious'


def test_bench_loghub(cli, shared_data):
    p = cli('bench', 'loghub', '--data', shared_data, check=True)
    r = json.loads(p.stdout)
    assert r['messages'] == 2000 and r['grouping_accuracy'] >= 0.98 and r['parsing_accuracy'] >= 0.90


def test_bench_without_data_says_where_to_look(cli, tmp_path):
    p = cli('bench', 'loghub', '--data', tmp_path)
    assert p.returncode == 2 and '--data' in p.stderr and 'Traceback' not in p.stderr


def test_fault_and_no_fault_conflict(cli, tmp_path):
    p = cli('simulate', '--out', tmp_path / 's', '--fault', 'network', '--no-fault')
    assert p.returncode == 2 and 'either --fault or --no-fault' in p.stderr


def test_bench_graphlog(cli, shared_data):
    p = cli('bench', 'graphlog', '--data', shared_data, check=True, timeout=600)
    r = json.loads(p.stdout)
    assert r['train_sessions'] == 300 and r['test_abnormal'] == 500 and r['tp'] + r['fn'] == 500
    assert r['f1'] >= 0.99, r
