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
    p, df = parse(cli, tmp_path, {'nova-compute.log': GOOD + GOOD.replace(b'Terminating', b'Termin\xe9\xffting')})
    assert p.returncode == 0 and len(df) == 2 and 'repaired invalid_utf8: 1' in p.stdout
    assert '\ufffd' in df.message[1]


def test_binary_junk_is_skipped_and_counted(cli, tmp_path):
    p, df = parse(cli, tmp_path, {'nova-compute.log': GOOD + b'\x00\x01\x02\xff\xfe\x00junk\x03\x04\n' + GOOD})
    assert p.returncode == 0 and len(df) == 2 and 'skipped binary: 1' in p.stdout and 'nova-compute.log:2' in p.stdout


def test_truncated_lines(cli, tmp_path):
    cut = GOOD[:-12]                                                    # last line cut mid-message, no newline
    p, df = parse(cli, tmp_path, {'nova-api.log': GOOD + b'2017-05-16 00:00:01.008 2574\n' + cut})
    assert p.returncode == 0 and len(df) == 2 and 'skipped truncated_header: 1' in p.stdout
    assert df.message[1] == '[instance: 3edec1e4-9678-4a3a-a21b-a145a4ee5e61] Terminati'   # keeps what it has
    assert df.request_id[1] == 'req-38101a0b-2096-447d-96ea-a692162415ae'


def test_one_megabyte_line(cli, tmp_path):
    big = GOOD[:-1] + b' ' + b'x' * 1_000_000 + b'\n'
    p, df = parse(cli, tmp_path, {'nova-compute.log': GOOD + big + GOOD})
    assert p.returncode == 0 and len(df) == 3 and 'repaired oversized: 1' in p.stdout
    assert len(df.message[1]) < 70_000


def test_empty_files_are_counted_not_fatal(cli, tmp_path):
    p, df = parse(cli, tmp_path, {'nova-api.log': b'', 'nova-compute.log': GOOD})
    assert p.returncode == 0 and len(df) == 1 and 'empty files: 1' in p.stdout


def test_only_empty_files_is_an_error(cli, tmp_path):
    p, _ = parse(cli, tmp_path, {'nova-api.log': b'', 'x/nova-compute.log': b'\n\n'})
    assert p.returncode == 2 and 'no OpenStack log records found' in p.stderr


def test_unknown_format_is_counted_or_an_error(cli, tmp_path):
    apache = b'127.0.0.1 - - [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326\n' * 3
    p, df = parse(cli, tmp_path, {'httpd.log': apache, 'nova-compute.log': GOOD})
    assert p.returncode == 0 and len(df) == 1 and 'skipped unknown_format: 3' in p.stdout
    p, _ = parse(cli, tmp_path / 'only', {'httpd.log': apache})
    assert p.returncode == 2 and 'unknown_format=3' in p.stderr


def test_gzip_rotated_and_truncated(cli, tmp_path):
    z = gzip.compress(GOOD * 500)
    p, df = parse(cli, tmp_path, {'nova-compute.log.1.gz': z, 'nova-compute.log.2.gz': z[: len(z) // 2],
                                  'neutron-server.log.3.gz': b'\x1f\x8bnot really gzip'})
    assert p.returncode == 0
    assert 'repaired truncated_gzip: 1' in p.stdout and 'unreadable files, corrupt_gzip: 1' in p.stdout
    assert (df.file.str.endswith('nova-compute.log.1.gz')).sum() == 500
    assert set(df.service) == {'nova-compute'}


def test_missing_path_is_an_error(cli, tmp_path):
    p = cli('parse', tmp_path / 'nope', '--out', tmp_path / 'o.csv')
    assert p.returncode == 2 and 'no such file or directory' in p.stderr and 'Traceback' not in p.stderr
