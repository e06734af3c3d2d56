"""`repomend train extract REPO`: the repository's test-covered methods, split and stored."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console

from training.commands.options import add_sandbox_options, sandbox_settings


def add(train_commands: argparse._SubParsersAction) -> None:
    parser = train_commands.add_parser(
        "extract", help="find every method a passing test executes (per-test coverage) and split them"
    )
    parser.add_argument("repo", type=Path, metavar="REPO", help="the repository's root folder")
    parser.add_argument(
        "--out", type=Path, help="folder to write (default: <data dir>/training/<repo>/extract/<version>)"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the split (default 0)")
    parser.add_argument(
        "--heldout-fraction", type=float, default=0.2, help="share of held-out methods (default 0.2)"
    )
    parser.add_argument(
        "--validation-fraction", type=float, default=0.1, help="share of validation methods (default 0.1)"
    )
    parser.add_argument(
        "--split-by",
        choices=("method", "file"),
        default="method",
        help="split single methods (default) or whole files (no held-out body in any training prompt)",
    )
    add_sandbox_options(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, console: Console) -> int:
    from repomend.errors import UserError
    from repomend.targets import find_python
    from training.extract import ExtractionError, extract

    repo = args.repo.resolve()
    if not repo.is_dir():
        raise UserError(f"no such repository folder: {args.repo}")
    settings = sandbox_settings(args)
    python = Path(args.python) if args.python else find_python(repo)
    if not python.exists():
        raise UserError(f"no such interpreter: {python}")
    with console.status("extracting") as status:
        try:
            result = extract(
                repo,
                python=python,
                settings=settings,
                seed=args.seed,
                heldout_fraction=args.heldout_fraction,
                validation_fraction=args.validation_fraction,
                split_unit=args.split_by,
                out=args.out,
                on_status=lambda text: status.update(text),
            )
        except ExtractionError as err:
            raise UserError(str(err)) from err
    manifest = result.manifest
    counts = manifest.counts
    console.print(
        f"{counts['covered']} of {counts['functions_seen']} functions and methods are executed by passing "
        f"tests ({manifest.tests_passed} of {manifest.tests_collected} tests passed)"
    )
    console.print(
        f"split (seed {manifest.seed}, by {manifest.split_unit}): train {counts['train']}, "
        f"validation {counts['validation']}, held-out {counts['heldout']}"
    )
    if manifest.skipped:
        console.print(
            "left out: " + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in manifest.skipped.items())
        )
    commit = (
        f" at {manifest.commit[:12]}" + (" (uncommitted changes)" if manifest.dirty else "")
        if manifest.commit
        else ""
    )
    console.print(f"version {manifest.version}{commit} written to {result.folder}")
    return 0
