"""Bad input through the CLI, one case at a time: nothing crashes, every skipped line is counted by reason,
and input with no record at all is a one-line error. (Unit-level cases live in nbs/00_logs.ipynb.)"""
import gzip
import pandas as pd

GOOD = (b'2017-05-16 00:00:00.008 25746 INFO nova.compute.manager [req-38101a0b-2096-447d-96ea-a692162415ae '
        b'113d3a99c3da401fbd62cc2caa5b96d2 54fadb412c4e40cdbaed9335e4c35a9e - - -] '
        b'[instance: 3edec1e4-9678-4a3a-a21b-a145a4ee5e61] Terminating instance\n')


def parse(cli, tmp_path, files: dict):
    d = tmp_path / 'in'
    for name, data in files.items():
        (d / name).parent.mkdir(parents=True, exist_ok=True)
        (d / name).write_bytes(data)
    out = tmp_path / 'out.csv'
    p = cli('parse', d, '--out', out, '--quiet', '--no-cache')
    assert 'Traceback' not in p.stderr, p.stderr
    return p, (pd.read_csv(out) if p.returncode == 0 else None)


def test_invalid_utf8_is_repaired_and_counted(cli, tmp_path):
    "Invalid UTF-8 bytes become U+FFFD in the record; the repair is counted."
    p, df = parse(cli, tmp_path, {'nova-compute.log': GOOD + GOOD.replace(b'Terminating', b'Termin\xe9\xffting')})
    assert p.returncode == 0 and len(df) == 2 and 'repaired invalid_utf8: 1' in p.stdout
    assert '\ufffd' in df.message[1]


def test_binary_junk_is_skipped_and_counted(cli, tmp_path):
    "A line of binary junk is skipped and counted with its file:line; the records around it stay."
    p, df = parse(cli, tmp_path, {'nova-compute.log': GOOD + b'\x00\x01\x02\xff\xfe\x00junk\x03\x04\n' + GOOD})
    assert p.returncode == 0 and len(df) == 2 and 'skipped binary: 1' in p.stdout and 'nova-compute.log:2' in p.stdout


def test_truncated_lines(cli, tmp_path):
    "A header cut short is a counted skip; a last line without its newline keeps what it has."
    cut = GOOD[:-12]                                                    # last line cut mid-message, no newline
    p, df = parse(cli, tmp_path, {'nova-api.log': GOOD + b'2017-05-16 00:00:01.008 2574\n' + cut})
    assert p.returncode == 0 and len(df) == 2 and 'skipped truncated_header: 1' in p.stdout
    assert df.message[1] == '[instance: 3edec1e4-9678-4a3a-a21b-a145a4ee5e61] Terminati'   # keeps what it has
    assert df.request_id[1] == 'req-38101a0b-2096-447d-96ea-a692162415ae'


def test_one_megabyte_line(cli, tmp_path):
    "A 1 MB line is cut to the line limit and counted as repaired; the records around it stay."
    big = GOOD[:-1] + b' ' + b'x' * 1_000_000 + b'\n'
    p, df = parse(cli, tmp_path, {'nova-compute.log': GOOD + big + GOOD})
    assert p.returncode == 0 and len(df) == 3 and 'repaired oversized: 1' in p.stdout
    assert len(df.message[1]) < 70_000


def test_empty_files_are_counted_not_fatal(cli, tmp_path):
    "Empty files among log files are counted, not an error."
    p, df = parse(cli, tmp_path, {'nova-api.log': b'', 'nova-compute.log': GOOD})
    assert p.returncode == 0 and len(df) == 1 and 'empty files: 1' in p.stdout


def test_only_empty_files_is_an_error(cli, tmp_path):
    "Only empty files: a one-line error, exit 2."
    p, _ = parse(cli, tmp_path, {'nova-api.log': b'', 'x/nova-compute.log': b'\n\n'})
    assert p.returncode == 2 and 'no OpenStack log records found' in p.stderr


def test_unknown_format_is_counted_or_an_error(cli, tmp_path):
    """Lines of another format beside oslo.log files are counted skips; alone, a one-line error naming the format
    problem."""
    apache = b'127.0.0.1 - - [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326\n' * 3
    p, df = parse(cli, tmp_path, {'httpd.log': apache, 'nova-compute.log': GOOD})
    assert p.returncode == 0 and len(df) == 1 and 'skipped unknown_format: 3' in p.stdout
    p, _ = parse(cli, tmp_path / 'only', {'httpd.log': apache})
    assert p.returncode == 2 and 'unknown_format=3' in p.stderr


def test_gzip_rotated_and_truncated(cli, tmp_path):
    """Rotated .gz files are read; a truncated one keeps its readable part (counted), a corrupt one is listed as
    unreadable."""
    z = gzip.compress(GOOD * 500)
    p, df = parse(cli, tmp_path, {'nova-compute.log.1.gz': z, 'nova-compute.log.2.gz': z[: len(z) // 2],
                                  'neutron-server.log.3.gz': b'\x1f\x8bnot really gzip'})
    assert p.returncode == 0
    assert 'repaired truncated_gzip: 1' in p.stdout and 'unreadable files, corrupt_gzip: 1' in p.stdout
    assert (df.file.str.endswith('nova-compute.log.1.gz')).sum() == 500
    assert set(df.service) == {'nova-compute'}


def test_missing_path_is_an_error(cli, tmp_path):
    "A path that does not exist: a one-line error, exit 2."
    p = cli('parse', tmp_path / 'nope', '--out', tmp_path / 'o.csv')
    assert p.returncode == 2 and 'no such file or directory' in p.stderr and 'Traceback' not in p.stderr


def test_outputs_that_cannot_be_written_and_pipes_that_close(cli, tmp_path):
    """An --out that is a folder or cannot be created: one line, exit 2, never "internal error"; output piped to
    `head` stops quietly (exit 141, nothing on stderr)."""
    d = tmp_path / 'in'; d.mkdir(); (d / 'nova-compute.log').write_bytes(GOOD * 3)
    (tmp_path / 'a-folder').mkdir()
    for out in (tmp_path / 'a-folder', '/proc/no/such/file.txt'):
        p = cli('analyze', '--logs', d, '--issue', 'x', '--fast', '--no-mlflow', '--out', out)
        assert p.returncode == 2 and 'cannot use' in p.stderr and len(p.stderr.strip().splitlines()) == 1, p.stderr
    p = cli('parse', d, '--out', tmp_path / 'a-folder', '--quiet', '--no-cache')
    assert p.returncode == 2 and 'Traceback' not in p.stderr and 'internal error' not in p.stderr, p.stderr
    import itertools, string, subprocess
    from helpers import BIN
    words = (''.join(w) for w in itertools.product(string.ascii_lowercase, repeat=3))      # 2000 distinct templates
    (d / 'nova-api.log').write_text(''.join(f'2017-05-16 00:00:{i % 60:02d}.000 7 ERROR nova.api [req-{i} - - - - -] '
                                            f'{next(words)} {next(words)} broke\n' for i in range(2000)))
    cmd = f'"{BIN}/openstack-rca" analyze --logs "{d}" --issue x --fast --no-mlflow --top 2000'
    head = subprocess.run(cmd + ' | head -1; '
                          'exit ${PIPESTATUS[0]}', shell=True, capture_output=True, text=True, executable='/bin/bash')
    assert head.stdout.startswith('issue: x') and head.stdout.count('\n') == 1
    assert head.returncode == 141 and not head.stderr.strip(), head.stderr        # stopped quietly, as `cat` would


def test_since_until_with_zones_and_dates_that_do_not_exist(cli, tmp_path):
    'A --since with a zone is converted to UTC; 2026-02-30, month 99 or a word: "not a timestamp", exit 2.'
    d = tmp_path / 'in'; d.mkdir(); (d / 'nova-compute.log').write_bytes(GOOD * 3)
    p = cli('analyze', '--logs', d, '--issue', 'x', '--fast', '--no-mlflow', '--since', '2017-05-15T22:00:00+02:00')
    assert p.returncode == 0 and 'internal error' not in p.stderr, p.stderr           # 22:00+02:00 is 20:00 UTC
    for bad in ('2026-02-30', '2999-99-01', 'yesterday'):
        p = cli('analyze', '--logs', d, '--issue', 'x', '--fast', '--no-mlflow', '--until', bad)
        assert p.returncode == 2 and 'not a timestamp' in p.stderr and 'Traceback' not in p.stderr, (bad, p.stderr)


def test_analyze_says_what_it_skipped_and_why(cli, tmp_path):
    "The report says how many lines were skipped and why, in text and in JSON `stats`."
    d = tmp_path / 'in'; d.mkdir()
    (d / 'nova-compute.log').write_bytes(GOOD * 3 + b'\x00\x01\x02\xff\xfe\x00junk\x03\x04\n')
    (d / 'nova-api.log').write_bytes(b'this is not an oslo.log line\n')
    p = cli('analyze', '--logs', d, '--issue', 'x', '--fast', '--no-mlflow')
    assert p.returncode == 0 and 'input: 2 line(s) skipped (' in p.stdout and 'binary 1' in p.stdout, p.stdout
    p = cli('analyze', '--logs', d, '--issue', 'x', '--fast', '--no-mlflow', '--format', 'json')
    stats = __import__('json').loads(p.stdout)['stats']
    assert stats['skipped'] == 2 and stats['skipped_by_reason'] == {'binary': 1, 'unknown_format': 1}, stats


def test_a_flood_of_blank_lines_and_a_gzip_bomb_are_counted(cli, tmp_path):
    "Memory is measured by bench/ scripts, not here: this checks what the user is told (and that it finishes)."
    d = tmp_path / 'in'; d.mkdir()
    z = __import__('zlib').compressobj(9, wbits=31)
    with open(d / 'nova-compute.log.gz', 'wb') as f:              # 300 MB of blank lines in ~300 kB
        f.write(z.compress(GOOD))
        for _ in range(300): f.write(z.compress(b'\n' * (1 << 20)))
        f.write(z.flush())
    p = cli('parse', d, '--out', tmp_path / 'o.csv', '--no-cache')
    assert p.returncode == 0 and 'skipped blank:' in p.stdout and 'size_cap: 1' in p.stdout, p.stdout + p.stderr
    assert len(pd.read_csv(tmp_path / 'o.csv')) == 1


def test_export_to_a_folder_and_the_same_file_twice(cli, tmp_path):
    """`models export --out` naming a folder: one line, exit 2, never "internal error". The same log file given twice
    (by name twice, by its folder and its name, by two spellings of its folder) is read once."""
    from helpers import rca
    import mlflow
    mlflow.MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}").search_experiments()     # an (empty) embedded store here
    (tmp_path / 'a-folder').mkdir()
    p = rca(tmp_path, 'models', 'export', '--out', 'a-folder')
    assert p.returncode == 2 and 'cannot use a-folder' in p.stderr and len(p.stderr.strip().splitlines()) == 1, p.stderr
    d = tmp_path / 'in'; d.mkdir(); (d / 'nova-compute.log').write_bytes(GOOD * 3)
    for args in ((d / 'nova-compute.log', d / 'nova-compute.log'), (d, d / 'nova-compute.log'), (d, tmp_path / 'in' / '..' / 'in')):
        p = cli('parse', *args, '--out', tmp_path / 'o.csv', '--quiet', '--no-cache')
        assert p.returncode == 0 and len(pd.read_csv(tmp_path / 'o.csv')) == 3, (args, p.stdout, p.stderr)
