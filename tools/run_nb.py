#!/usr/bin/env python
"""Execute notebooks in place so that their outputs (figures, tables) are stored and shown on the docs site.

Used for the notebooks whose docs carry measured figures, e.g. `make bench` refreshes nbs/01_templates.ipynb after
writing bench/results/parse_bench.json. Runs from nbs/ like nbdev_test; stops at the first failing cell."""
import os, sys
from pathlib import Path
from execnb.nbio import read_nb, write_nb
from execnb.shell import CaptureShell


def main(paths):
    for p in map(Path, paths):
        nb = read_nb(p)
        cwd = os.getcwd()
        os.chdir(p.parent)
        try:
            shell = CaptureShell()
            shell.run_all(nb, exc_stop=True)
        finally: os.chdir(cwd)
        write_nb(nb, p)
        print(f'executed {p}')


if __name__ == '__main__':
    if len(sys.argv) < 2: sys.exit('usage: run_nb.py NOTEBOOK.ipynb ...')
    main(sys.argv[1:])
