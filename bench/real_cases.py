#!/usr/bin/env python
"""`analyze --fast` against the first-ERROR baseline on every real failure of fault-injection-openstack (truth.json),
per split: the two thirds the weights were set on (dev), the third kept aside (holdout), and all.

Targets (issue 11), on the held-out part: service Hit@1 >= 0.93, MRR >= 0.95, "no cause" <= 2 %, component Hit@3
>= 0.85 (no method that cites log lines can pass the share of cases whose faulty module shows in the logs at all,
printed beside it); fast mode <= 2 s median per case. The baseline printed beside each figure is the first-ERROR
line, computed by `evaluate` on the same records: a ratio above 1.0 beats it. Writes bench/results/real_cases.json.
Data: ../shared/data/fault-injection-openstack (or $OPENSTACK_RCA_DATA); Cotroneo et al., ESEC/FSE 2019.
"""
import datetime, json, os, platform, sys
from pathlib import Path
from openstack_rca.logs import data_dir
from openstack_rca.evaluate import evaluate

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    d = data_dir('fault-injection-openstack')
    if d is None:
        print('fault-injection-openstack data not found: set OPENSTACK_RCA_DATA or put ../shared/data beside the '
              'project')
        return 2
    machine = f'{platform.machine()}, {platform.processor() or "?"}, {os.cpu_count()} cores'
    out = {'date': datetime.date.today().isoformat(), 'machine': machine, 'python': platform.python_version(),
           'splits': {}}
    for split in ('dev', 'holdout', 'all'):
        r = evaluate(data=d / 'cases', split=split, progress=True)
        rows = {t['method']: t for t in r['table'] if t['subsystem'] == 'all'}
        out['splits'][split] = rows
        a, b = rows['analyze'], rows['first ERROR']
        ratio = a['hit@1'] / max(b['hit@1'], 1e-9)
        print(f"{split:8} {a['cases']:4} cases | Hit@1 {a['hit@1']:.3f} (baseline {b['hit@1']:.3f}, x{ratio:.2f})"
              f" | MRR {a['mrr']:.3f} ({b['mrr']:.3f}) | component Hit@3 {a['component_hit@3']:.3f}"
              f" ({b['component_hit@3']:.3f}; in the logs at all {a['component_in_logs']:.3f})"
              f" | no cause {a['no_cause']:.3f} ({b['no_cause']:.3f}) | {a['seconds_per_case']:.2f} s/case")
    (ROOT / 'bench' / 'results').mkdir(parents=True, exist_ok=True)
    (ROOT / 'bench' / 'results' / 'real_cases.json').write_text(json.dumps(out, indent=1))
    return 0


if __name__ == '__main__':
    sys.exit(main())
