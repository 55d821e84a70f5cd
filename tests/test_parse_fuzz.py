"""Seeded fuzz of the parser: random mixes of real Loghub lines, tracebacks, control characters, invalid UTF-8,
\\r, gzip and over-long lines. Whatever the input: no exception, every line accounted for, and streaming
(`iter_logs`, any chunk size) gives exactly the records and counts of whole-file parsing (`read_logs`)."""
import gzip, random
import pandas as pd
import pytest
from openstack_rca.logs import ParseReport, RCAError, iter_logs, parse_bytes, read_logs

HEADER = b'nova-compute.log.1.2017-05-16_13:55:31 2017-05-16 00:00:04.693 2931 INFO nova.compute.manager [req-1 u p - - -] '
LINES = [HEADER + b'[instance: 3edec1e4-9678-4a3a-a21b-a145a4ee5e61] Terminating instance\n',
         b'2017-05-16 00:00:00.008 25746 INFO nova.osapi_compute.wsgi.server [-] 10.11.10.1 "GET /v2 HTTP/1.1" status: 200\n',
         HEADER + b'Instance failed to spawn\nTraceback (most recent call last):\n  File "x.py", line 1\nValueError: boom\n']
PIECES = [b'\r', b'\x0b', b'\x1c', '\u2028'.encode(), b'\x00', b'\xff\xfe', b'[', b']', b'2017-05-16 00:00:00.008 ',
          b'Traceback (most recent call last):', b'   ', b'\t', b'[instance: ', b'\n', b'\n\n', b'\r\n', b'x' * 3000]


def random_log(rng: random.Random) -> bytes:
    parts = []
    for _ in range(rng.randint(0, 40)):
        r = rng.random()
        if r < 0.5: parts.append(rng.choice(LINES))
        elif r < 0.8: parts.append(rng.choice(PIECES))
        else: parts.append(bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 60))))
    return b''.join(parts)


@pytest.mark.parametrize('seed', range(8))
def test_streaming_equals_whole_file(tmp_path, seed):
    rng = random.Random(seed)
    for trial in range(25):
        data = random_log(rng)
        df, rep = parse_bytes(data, 'nova-compute.log')
        rep.check()
        assert len(df) == rep.records
        path = tmp_path / (f'{trial}.log.gz' if trial % 3 == 0 else f'{trial}.log')
        path.write_bytes(gzip.compress(data) if trial % 3 == 0 else data)
        try: whole, wrep = read_logs(path, cache=False)
        except RCAError: whole, wrep = None, None
        chunks = list(iter_logs(path, chunk_bytes=rng.choice([2000, 5000, 1 << 20])))
        srep = ParseReport()
        for _, r in chunks: srep.merge(r)
        srep.check()
        frames = [f for f, _ in chunks if len(f)]
        if whole is None:
            assert not frames
            continue
        pd.testing.assert_frame_equal(pd.concat(frames, ignore_index=True), whole)
        assert (srep.lines, srep.records, srep.continuation_lines, srep.skipped, srep.repaired) == \
               (wrep.lines, wrep.records, wrep.continuation_lines, wrep.skipped, wrep.repaired)
