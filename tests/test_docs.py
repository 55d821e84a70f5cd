"The docs site: `make docs`'s builder (tools/docs.py) makes it without Quarto; headless Chromium renders its pages."
import json, os, re, shutil, subprocess, sys, tempfile, urllib.request
from html import unescape
from pathlib import Path
import pytest
from helpers import free_port, wait_http, stop

ROOT = Path(__file__).resolve().parents[1]
SITE = ROOT / '_docs'
SHOTS = SITE / '_screenshots'   # the screenshots this test takes, kept with the build
CHROMIUM = shutil.which('chromium') or shutil.which('chromium-browser')
# .ci/run installs Debian's chromium and sets OPENSTACK_RCA_REQUIRE_BROWSER: there a missing browser fails, not skips
browser = pytest.mark.skipif(not CHROMIUM and not os.environ.get('OPENSTACK_RCA_REQUIRE_BROWSER'),
                             reason='chromium not found: install it (Debian: apt-get install chromium) to run the browser tests')
FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
         '--disable-component-update', '--disable-sync', '--disable-quic']


@pytest.fixture(scope='module')
def site(tmp_path_factory):
    "Build the site as `make docs` does (no quarto on PATH: the Sphinx path), serve it on loopback, yield its URL."
    env = {**os.environ, 'PATH': os.pathsep.join(p for p in os.environ['PATH'].split(os.pathsep) if not (Path(p) / 'quarto').exists())}
    b = subprocess.run([sys.executable, str(ROOT / 'tools' / 'docs.py'), '--out', str(SITE)], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=900)
    assert b.returncode == 0, b.stdout[-3000:] + b.stderr[-3000:]
    assert 'building the site with Sphinx' in b.stdout
    port, log = free_port(), tmp_path_factory.mktemp('site') / 'http.log'
    with open(log, 'w') as out:
        srv = subprocess.Popen([sys.executable, '-m', 'http.server', str(port), '--bind', '127.0.0.1', '--directory', str(SITE)],
                               stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_http(f'http://127.0.0.1:{port}/index.html', srv, log)
        yield f'http://127.0.0.1:{port}'
    finally:
        stop(srv)


def chromium(*args, timeout=120):
    "Run headless Chromium with a fresh profile; its stdout."
    assert CHROMIUM, 'chromium is required here (OPENSTACK_RCA_REQUIRE_BROWSER is set): apt-get install chromium'
    with tempfile.TemporaryDirectory() as profile:
        p = subprocess.run([CHROMIUM, *FLAGS, f'--user-data-dir={profile}', *args], capture_output=True, text=True, timeout=timeout)
    assert p.returncode == 0, p.stderr[-2000:]
    return p.stdout


def dom(url):
    "The page's DOM after its scripts ran, as Chromium serialises it."
    return chromium('--virtual-time-budget=5000', '--dump-dom', url)


def text(html):
    return unescape(re.sub(r'\s+', ' ', re.sub(r'<[^>]+>', '', re.sub(r'<(script|style)\b.*?</\1>', '', html, flags=re.S))))


def images(url, html):
    "The PNG images a page shows: (src, bytes) fetched from the server."
    out = []
    for src in re.findall(r'<img[^>]+src="([^"]+\.png)"', html):
        data = urllib.request.urlopen(f'{url}/{src}', timeout=10).read()
        out.append((src, data))
    return out


@browser
def test_index_page(site):
    html = dom(site + '/index.html')
    t = text(html)
    assert 'openstack-rca' in t and 'make demo' in t and 'make test' in t
    # the sidebar lists the walkthrough and the modules in notebook order
    links = re.findall(r'class="reference internal" href="([\w.]+\.html)"', html)
    assert links[:3] == ['tutorial.html', 'core.html', 'logs.html'], links[:5]
    assert links.index('rca.html') < links.index('report.html') < links.index('cli.html')
    assert 'search' in html and 'name="q"' in html            # the search box
    assert '<!-- generated' not in t


@browser
def test_rca_api_page(site):
    html = dom(site + '/rca.html')
    t = text(html)
    # show_doc's entry for analyze, with its signature and docstring, rendered from nbdev's processing
    assert re.search(r'def analyze\( logs, issue:str, scorer:NoneType=None, top:int=5, since:NoneType=None, until:NoneType=None,'
                     r' baseline:NoneType=None, tz:str \| None=None, source:NoneType=None, query:str \| None=None,'
                     r' auth:NoneType=None, client:NoneType=None \)->Report', t), t[:2000]
    assert 'Rank the root causes' in t or 'root causes' in t
    assert 'href="https://github.com/openstack-rca/openstack-rca/blob/main/openstack_rca/rca.py#L' in html   # [source] links
    # a plot: the example's score breakdown, a real PNG served with the page
    pngs = images(site, html)
    assert pngs and all(d[:8] == b'\x89PNG\r\n\x1a\n' and len(d) > 10_000 for _, d in pngs), [(s, len(d)) for s, d in pngs]
    # nbdev's directives: exported code is not shown (its show_doc is), `#| hide` cells are gone, tests are shown
    assert 'def _explain(' not in t and 'from __future__ import annotations' not in t
    assert 'test_eq(words(' in t
    SHOTS.mkdir(parents=True, exist_ok=True)
    shot = SHOTS / 'rca.png'
    shot.unlink(missing_ok=True)
    chromium('--window-size=1280,1800', f'--screenshot={shot}', site + '/rca.html')
    assert shot.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n' and shot.stat().st_size > 20_000


@browser
def test_hidden_cells_and_links(site):
    t = text(dom(site + '/model.html'))
    assert 'def build_model(' in t and 'import keras # the docs build' not in t    # a #| hide cell ran but is not shown
    html = dom(site + '/index.html')
    # nbdev's backtick links point into this site, not at the (unpublished) doc_host
    assert 'openstack-rca.github.io' not in html and 'href="rca.html#analyze"' in html


@browser
def test_search_finds_a_function(site):
    html = dom(site + '/search.html?q=expand_query')
    assert re.search(r'href="[^"]*rca\.html[^"]*"', html.split('search-results', 1)[-1]), 'no search result for expand_query'


def cell(kind, src, outputs=()):
    c = {'cell_type': kind, 'metadata': {}, 'source': src}
    if kind == 'code': c.update(execution_count=None, outputs=list(outputs))
    return c


def throwaway_project(root: Path) -> Path:
    "An nbdev project with one notebook holding one cell per directive (this project's settings, another library)."
    root.mkdir(parents=True, exist_ok=True)
    cfg = (ROOT / 'settings.ini').read_text().replace('lib_path = openstack_rca', 'lib_path = dirtest').replace('lib_name = openstack-rca', 'lib_name = dirtest')
    (root / 'settings.ini').write_text(cfg)
    (root / 'nbs').mkdir()
    out = {'output_type': 'stream', 'name': 'stdout', 'text': ['ONLY_THE_OUTPUT\n']}
    nb = {'cells': [cell('markdown', '# directives\n\n> One cell per directive.'),
                    cell('code', '#| default_exp directives'),
                    cell('code', '#| export\ndef documented(a: int = 1) -> int:\n    "A documented function."\n    return a + 41'),
                    cell('code', '#| hide\nHIDDEN_CELL = 1'),
                    cell('code', '#| eval: false\nimport module_that_does_not_exist   # never run by the docs build'),
                    cell('code', "#| echo: false\nprint('ONLY_THE_OUTPUT')", [out]),
                    cell('code', '#| exports\ndef shown_export(): return 1'),
                    cell('code', 'assert documented() == 42')],
          'metadata': {'kernelspec': {'display_name': 'python3', 'language': 'python', 'name': 'python3'}}, 'nbformat': 4, 'nbformat_minor': 5}
    (root / 'nbs' / '00_directives.ipynb').write_text(json.dumps(nb))
    return root


def test_directives_as_in_nbdev(tmp_path):
    "Built the Quarto-less way, each directive behaves as on nbdev's own site."
    proj = throwaway_project(tmp_path)
    b = subprocess.run([sys.executable, str(ROOT / 'tools' / 'docs.py'), '--root', str(proj), '--engine', 'sphinx'],
                       capture_output=True, text=True, timeout=600)
    assert b.returncode == 0, b.stdout[-3000:] + b.stderr[-3000:]
    t = text((proj / '_docs' / 'directives.html').read_text())
    assert 'def documented( a:int=1 )->int:' in t and 'A documented function.' in t   # show_doc of an export
    assert 'return a + 41' not in t                                                    # #| export: the code is not shown
    assert 'HIDDEN_CELL' not in t                                                      # #| hide
    assert 'import module_that_does_not_exist' in t                                   # #| eval: false: shown, not run
    assert 'ONLY_THE_OUTPUT' in t and "print('ONLY_THE_OUTPUT')" not in t              # #| echo: false
    assert 'def shown_export(): return 1' in t                                         # #| exports: code shown
    assert 'assert documented() == 42' in t and '#|' not in t                          # tests shown, directive lines not
    assert (proj / '_docs' / 'index.html').exists() and (proj / '_docs' / 'search.html').exists()


def test_quarto_on_path_means_nbdev_docs(tmp_path):
    "With `quarto` on PATH the build is nbdev's own nbdev_docs (a stand-in quarto records the calls), README.md kept."
    proj = throwaway_project(tmp_path / 'proj')
    (tmp_path / 'proj' / 'README.md').write_text('written by make readme\n')
    bin_dir, log = tmp_path / 'bin', tmp_path / 'quarto.log'
    bin_dir.mkdir()
    fake = bin_dir / 'quarto'
    fake.write_text('#!/bin/sh\necho "$@" >> "$QUARTO_LOG"\n'
                    'case "$*" in *--no-cache*) mkdir -p _docs && echo rendered-by-quarto > _docs/index.html;;\n'
                    '  *README.md*) mkdir -p _docs && echo quarto-readme > _docs/README.md;; esac\n')
    fake.chmod(0o755)
    env = {**os.environ, 'PATH': f'{bin_dir}{os.pathsep}{os.environ["PATH"]}', 'QUARTO_LOG': str(log)}
    b = subprocess.run([sys.executable, str(ROOT / 'tools' / 'docs.py'), '--root', str(proj)], env=env,
                       capture_output=True, text=True, timeout=600)
    assert b.returncode == 0, b.stdout[-3000:] + b.stderr[-3000:]
    assert 'building the site with Sphinx' not in b.stdout and 'render --no-cache' in log.read_text()
    test_site = (proj / '_docs' / 'index.html').read_text()
    assert test_site == 'rendered-by-quarto\n'
    assert (proj / 'README.md').read_text() == 'written by make readme\n'


def test_the_reliability_page_is_as_new_as_the_tests():
    "The Reliability page shows the table tools/reliability.py makes from the tests now: every probe, none made up."
    import runpy
    nb = json.loads((ROOT / 'nbs' / 'reliability.ipynb').read_text())
    shown = ''.join(next(o['data']['text/markdown'] for c in nb['cells'] if c['cell_type'] == 'code'
                         for o in c.get('outputs', []) if 'text/markdown' in o.get('data', {})))
    assert shown == runpy.run_path(str(ROOT / 'tools' / 'reliability.py'))['table'](), 'run `make reliability`'
    assert shown.count('\n| ') >= 30 and 'test_a_pickle_in_a_model_folder_is_refused_and_never_run' in shown


@browser
def test_reliability_page(site):
    t = text(dom(site + '/reliability.html'))
    assert 'Reliability' in t and 'a pickle in a model folder is refused and never run' in t
