"""``rnndyn figure list | NAME ... | all``: the named figures."""

import click

from rnndyn.cli.options import CONTEXT_SETTINGS, FORMATS, cli_errors, emit, progress


@click.command(context_settings=CONTEXT_SETTINGS)
@click.argument("names", nargs=-1, required=True)
@click.option("--out", type=click.Path(file_okay=False), default="rnndyn-out/figures",
              help="Folder for the figures and their data.")
@click.option("--format", "fmts", type=click.Choice(FORMATS), multiple=True,
              default=("png",), help="Figure format; repeat for several.")
@click.option("--seed", type=click.IntRange(min=0), default=None,
              help="Override every figure's seed [default: each figure's own].")
@click.option("--replot", is_flag=True,
              help="Re-plot from the data saved in --out instead of recomputing.")
@click.option("--json", "as_json", is_flag=True,
              help="Print {figures: [{name, figure, data, json, seconds}]} on stdout.")
@click.option("--quiet", is_flag=True, help="No progress bar and no summary.")
@click.option("--overwrite", is_flag=True, help="Replace existing files.")
@cli_errors
def figure(names, out, fmts, seed, replot, as_json, quiet, overwrite):
    """Make named figures: NAMES is `list`, `all`, or one or more figure names.

    Each figure writes NAME.<format> and its data NAME.npz + NAME.json to --out
    (the one command whose --out has a default, rnndyn-out/figures: its output is files).
    """
    import time
    from rnndyn.figures import registry
    table = registry.recipes()
    if names == ("list",):
        rows = [{"name": n, "title": m.TITLE} for n, m in table.items()]
        emit({"figures": rows}, as_json=as_json, quiet=False,
             lines=[f"{r['name']:28s} {r['title']}" for r in rows])
        return
    chosen = list(table) if names == ("all",) else list(names)
    for n in chosen:
        registry.get(n)  # unknown names fail before any work is done
    done = []
    with progress(len(chosen) * len(fmts), quiet=quiet or as_json, label="figures") as advance:
        for n in chosen:
            params = {"seed": seed} if seed is not None else {}
            for i, fmt in enumerate(fmts):
                t0 = time.perf_counter()
                info = registry.render(n, out, fmt=fmt, overwrite=overwrite, params=params,
                                       replot=replot or i > 0)
                info["seconds"] = round(time.perf_counter() - t0, 3)
                done.append(info)
                advance(1)
    emit({"figures": done}, as_json=as_json, quiet=quiet,
         lines=[f"{d['figure']}  ({d['seconds']:.1f} s)" for d in done])
