#!/usr/bin/env python
"""Build the documentation site from the notebooks in nbs/ into _docs/ (`make docs`).

With Quarto on PATH this is nbdev's own `nbdev_docs`. Without it (Quarto cannot be installed on machines that
only reach package registries), the same first stage runs — `nbdev.serve.proc_nbs`, which applies nbdev's
directives (`#| hide`, `#| export`, ...) and executes the `show_doc` cells — and the processed notebooks are
turned into Markdown by nbconvert, then into HTML by Sphinx (MyST Markdown, Furo theme: sidebar in notebook
order, full-text search). Sphinx is chosen because it is actively maintained, needs nothing outside PyPI and
builds a static site with a search index that works from any web server.

Usage: python tools/docs.py [--out _docs] [--engine auto|quarto|sphinx] [--root PROJECT]"""
import argparse, html, os, re, shutil, subprocess, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]   # the project whose notebooks are built (--root: another nbdev project)

# The reading order of the sidebar: the overview, the walkthrough, then the modules in the order data flows.
GUIDES = ['index', 'tutorial']


def pages(nbs_path: Path) -> list[str]:
    "Notebook stems in sidebar order (notebooks starting with _ or . are not pages, as in nbdev)."
    nbs = sorted(p.stem for p in Path(nbs_path).glob('*.ipynb') if p.name[0] not in '_.')
    return [g for g in GUIDES if g in nbs] + [n for n in nbs if n not in GUIDES]


def _cfg(root: Path = ROOT):
    from nbdev.config import get_config
    cfg = get_config(path=root)
    assert cfg.config_path.resolve() == root.resolve(), f'settings.ini of {root} not found (got {cfg.config_path})'
    return cfg, f"{cfg.doc_host.rstrip('/')}{cfg.doc_baseurl.rstrip('/')}/"


_DIRECTIVE = re.compile(r'^\s*#\|\s*([\w-]+)\s*:?\s*(.*?)\s*$')
_ATTR_LINK = re.compile(r'\[([^\]]+)\]\(([^)\s]+)\)\{([^}]*)\}')


def directives(source: str) -> tuple[dict, str]:
    "Quarto cell options (`#| key: value`) of a processed cell, and its source without them."
    opts, keep = {}, []
    for line in source.splitlines():
        m = _DIRECTIVE.match(line)
        if m: opts[m.group(1)] = m.group(2).strip().lower()
        else: keep.append(line)
    return opts, '\n'.join(keep).strip('\n')


def plain_markdown(text: str, site: str) -> str:
    "Quarto-flavoured Markdown from nbdev as CommonMark: `[t](u){attrs}` becomes an HTML link; own-site links become relative."
    from docutils.nodes import make_id
    def local(url):
        if not url.startswith(site): return url
        page, _, frag = url[len(site):].partition('#')
        return page + (f'#{make_id(frag)}' if frag else '')
    def label(t): return re.sub(r'`([^`]+)`', lambda m: f'<code>{html.escape(m.group(1))}</code>', t)
    text = _ATTR_LINK.sub(lambda m: f'<a href="{local(m.group(2))}" {m.group(3)}>{label(m.group(1))}</a>', text)
    # MyST would read `page.html#x` as a cross-reference; an HTML link goes where nbdev's site would
    return re.sub(r'\[([^\]]+)\]\((' + re.escape(site) + r'[^)\s]*)\)', lambda m: f'<a href="{local(m.group(2))}">{label(m.group(1))}</a>', text)


def front_matter(nb) -> dict:
    import yaml
    if nb.cells and nb.cells[0].cell_type == 'raw' and nb.cells[0].source.lstrip().startswith('---'):
        fm = yaml.safe_load(nb.cells[0].source.strip().strip('-')) or {}
        del nb.cells[0]
        return fm
    return {}


def to_markdown(proc_nb: Path, out_dir: Path, site: str) -> tuple[str, str]:
    "One processed notebook as a MyST page in `out_dir` (images beside it); returns (page name, title)."
    import nbformat
    from nbconvert import MarkdownExporter
    from nbconvert.preprocessors import TagRemovePreprocessor
    nb = nbformat.read(proc_nb, as_version=4)
    fm = front_matter(nb)
    name = Path(fm.get('output-file', proc_nb.stem + '.html')).stem
    title = str(fm.get('title') or name)
    for cell in nb.cells:
        if cell.cell_type == 'markdown': cell.source = plain_markdown(cell.source, site)
        if cell.cell_type != 'code': continue
        opts, cell.source = directives(cell.source)
        tags = set(cell.metadata.get('tags', []))
        if opts.get('echo') == 'false' or not cell.source.strip(): tags.add('remove_input')
        if opts.get('output') == 'false': tags.add('remove_output')
        if opts.get('include') == 'false': tags.add('remove_cell')
        cell.metadata['tags'] = sorted(tags)
        for out in cell.get('outputs', []):
            if out.get('output_type') == 'stream':  # progress bars redraw with \r: keep what a terminal would show last
                out['text'] = '\n'.join(line.rsplit('\r', 1)[-1] for line in ''.join(out['text']).split('\n'))
            md = out.get('data', {}).get('text/markdown')
            if md is not None:  # show_doc's entries open with a rule, which docutils refuses right after a heading
                out['data']['text/markdown'] = re.sub(r'\A\s*---\s*\n', '<hr class="api-entry">\n\n', plain_markdown(md, site))
            if 'text/markdown' in out.get('data', {}) or 'image/png' in out.get('data', {}):
                out['data'].pop('text/plain', None)  # a rich output's repr is noise on a web page
    # A page title from the front matter, as nbdev's site shows it (the notebook's own H1 was turned into it).
    head = f'# {title}\n\n' + (f"> {fm['description']}\n\n" if fm.get('description') else '')
    nb.cells.insert(0, nbformat.v4.new_markdown_cell(head))
    exporter = MarkdownExporter()
    exporter.register_preprocessor(TagRemovePreprocessor(remove_cell_tags={'remove_cell'}, remove_input_tags={'remove_input'},
                                                         remove_all_outputs_tags={'remove_output'}, enabled=True), enabled=True)
    body, res = exporter.from_notebook_node(nb, resources={'output_files_dir': f'{name}_files'})
    for fname, data in res.get('outputs', {}).items():
        (out_dir / fname).parent.mkdir(parents=True, exist_ok=True)
        (out_dir / fname).write_bytes(data)
    (out_dir / f'{name}.md').write_text(body, encoding='utf-8')
    return name, title


CONF = '''# Generated by tools/docs.py: Sphinx settings of the openstack-rca site (MyST Markdown pages, Furo theme).
project = {title!r}
author = {author!r}
copyright = {copyright!r}
release = {version!r}
extensions = ['myst_parser']
myst_enable_extensions = ['colon_fence', 'html_image', 'dollarmath']
myst_heading_anchors = 3          # [text](#a-heading) links, as on GitHub
source_suffix = {{'.md': 'markdown'}}
exclude_patterns = ['_build']
html_theme = 'furo'
html_title = {title!r}
html_static_path = []
html_show_sourcelink = False
# nbdev's API entries are H3 under H2 sections and cite names that are not Sphinx targets: not errors here.
suppress_warnings = ['myst.header', 'myst.xref_missing', 'misc.highlighting_failure']
'''


def build_sphinx(root: Path, out: Path, workers: int) -> Path:
    "nbdev's processing into root/_proc, Markdown pages into root/_proc_site, Sphinx's HTML into `out`."
    from nbdev.serve import proc_nbs
    os.chdir(root)                   # nbdev finds settings.ini from the working directory (get_config's path is not used)
    cfg, site = _cfg(root)
    proc, src = root / '_proc', root / '_proc_site'
    print(f'processing notebooks with nbdev (proc_nbs) into {proc}/', flush=True)
    proc_nbs(path=str(cfg.nbs_path), n_workers=workers)
    if src.exists(): shutil.rmtree(src)
    src.mkdir()
    order = pages(cfg.nbs_path)
    names = [to_markdown(proc / f'{stem}.ipynb', src, site) for stem in order]
    (src / 'conf.py').write_text(CONF.format(title=cfg.title, author=cfg.author, copyright=cfg.copyright, version=cfg.version))
    guides = [n for (n, _), s in zip(names, order) if s in GUIDES and n != 'index']
    modules = [n for (n, _), s in zip(names, order) if s not in GUIDES]
    toc = ''.join(f'\n```{{toctree}}\n:hidden:\n:caption: {cap}\n\n' + '\n'.join(items) + '\n```\n'
                  for cap, items in (('Get started', guides), ('Modules', modules)) if items)
    index = src / 'index.md'
    if not index.exists(): index.write_text(f'# {cfg.title}\n\n> {cfg.description}\n', encoding='utf-8')
    with open(index, 'a', encoding='utf-8') as f: f.write(toc)
    if out.exists(): shutil.rmtree(out)
    cmd = [sys.executable, '-m', 'sphinx', '-b', 'html', '-q', '-j', str(max(workers, 1)), '-d', str(src / '_doctrees'), str(src), str(out)]
    print('building the site with Sphinx:', ' '.join(cmd[2:]), flush=True)
    subprocess.run(cmd, check=True, cwd=root)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--out', default=None, help='site folder (default: _docs/ of the project)')
    ap.add_argument('--root', default=str(ROOT), help='the nbdev project (default: this one)')
    ap.add_argument('--engine', choices=['auto', 'quarto', 'sphinx'], default='auto',
                    help='auto: nbdev_docs when quarto is on PATH, else nbdev processing + Sphinx')
    ap.add_argument('--workers', type=int, default=min(os.cpu_count() or 1, 4))
    a = ap.parse_args()
    engine = a.engine if a.engine != 'auto' else ('quarto' if shutil.which('quarto') else 'sphinx')
    root = Path(a.root).resolve()
    out = Path(a.out).resolve() if a.out else root / '_docs'
    try:
        if engine == 'quarto':
            if not shutil.which('quarto'): sys.exit('quarto is not on PATH: install it from https://quarto.org, or use --engine sphinx')
            # nbdev_docs also renders README.md with Quarto; this project's README is tools/readme.py's (CI checks it)
            readme = root / 'README.md'
            saved = readme.read_bytes() if readme.exists() else None
            try: subprocess.run([str(Path(sys.executable).parent / 'nbdev_docs')], check=True, cwd=root)
            finally:
                if saved is not None and (not readme.exists() or readme.read_bytes() != saved):
                    readme.write_bytes(saved)
                    print('kept README.md as `make readme` writes it (nbdev_docs had rewritten it)')
            if out != root / '_docs': shutil.copytree(root / '_docs', out, dirs_exist_ok=True)
        else:
            build_sphinx(root, out, a.workers)
    except subprocess.CalledProcessError as e:
        sys.exit(f'docs build failed ({engine}, exit {e.returncode}): see the messages above; notebooks must run their show_doc cells')
    except Exception as e:
        sys.exit(f'docs build failed ({engine}): {str(e).splitlines()[0] if str(e) else type(e).__name__} — fix the notebook named above and run `make docs` again')
    print(f'site: {out}/index.html  (serve it: python -m http.server -d {os.path.relpath(out)} 8000)')


if __name__ == '__main__':
    main()
