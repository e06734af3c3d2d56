"""`repomend eval EXTRACTION --adapter PATH`: base model vs adapters on the held-out methods."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console

from repomend.contract.conversation import Mode
from training.commands.options import add_sandbox_options


def add(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "eval", help="Pass@k of the base model and adapters on an extraction's held-out methods"
    )
    parser.add_argument("extraction", type=Path, metavar="EXTRACTION", help="a `train extract` folder")
    parser.add_argument(
        "--adapter",
        action="append",
        default=[],
        metavar="[NAME=]PATH",
        help="adapter folder to evaluate (repeatable); NAME labels it in the report (default: folder name)",
    )
    parser.add_argument("--no-base", action="store_true", help="leave the base model out")
    parser.add_argument(
        "--modes", default=str(Mode.NO_THINK), help="comma-separated: no-think, think (default no-think)"
    )
    parser.add_argument("--turns", type=int, default=5, help="repair turns per method (default 5)")
    parser.add_argument(
        "--samples", type=int, default=1, help="answers sampled and tested per turn (default 1)"
    )
    parser.add_argument("--workers", type=int, default=2, help="methods in parallel (default 2)")
    parser.add_argument("--limit", type=int, help="evaluate a seeded sample of this many held-out methods")
    parser.add_argument(
        "--start",
        choices=("mutant", "generate"),
        default="mutant",
        help="break each method with a mutant its tests reject (default) or generate it from scratch",
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of the mutant choice and sample (default 0)"
    )
    parser.add_argument(
        "--benchmark", type=Path, metavar="REPORT", help="replay the inputs of an earlier report"
    )
    parser.add_argument("--model", help="base model (default: the adapters' base model, else the settings')")
    parser.add_argument(
        "--out", type=Path, help="report folder (default: the adapter folder when there is one adapter)"
    )
    add_sandbox_options(parser, python_default="the one recorded at extraction")
    parser.set_defaults(handler=run)


def _adapters(specs: list[str]) -> list[tuple[str, Path]]:
    from repomend.errors import UserError

    found = []
    for spec in specs:
        name, _, path = spec.rpartition("=") if "=" in spec else ("", "", spec)
        folder = Path(path).expanduser().resolve()
        if not (folder / "adapter_config.json").is_file():
            raise UserError(f"{path} is not an adapter folder (no adapter_config.json)")
        found.append((name or folder.name, folder))
    return found


def _base_model(adapters: list[tuple[str, Path]], given: str | None) -> str | None:
    """The model the adapters were trained on, as their manifests say; they must agree."""
    from repomend.errors import UserError
    from training.adapter_manifest import ManifestError, read_manifest

    bases = set()
    for _, folder in adapters:
        try:
            bases.add(read_manifest(folder).base_model)
        except ManifestError:
            continue
    if given:
        return given
    if len(bases) > 1:
        raise UserError(
            f"the adapters were trained on different models ({', '.join(sorted(bases))}); pass --model"
        )
    return bases.pop() if bases else None


def run(args: argparse.Namespace, console: Console) -> int:
    from datetime import UTC, datetime

    from repomend.errors import UserError
    from training.benchmark import Benchmark
    from training.commands.options import sandbox_settings
    from training.evaluate import BASE, EvalReport, EvaluationError, ModelUnderTest, evaluate
    from training.records import read_manifest
    from training.report import write_report
    from training.storage import training_root

    try:
        modes = [Mode(mode.strip()) for mode in args.modes.split(",") if mode.strip()]
    except ValueError as err:
        raise UserError(f"--modes takes no-think and/or think: {err}") from err
    if min(args.turns, args.samples, args.workers) < 1 or (args.limit is not None and args.limit < 1):
        raise UserError("--turns, --samples, --workers and --limit must be at least 1")
    if not (args.extraction / "methods.jsonl").is_file():
        raise UserError(f"{args.extraction} is not an extraction folder (no methods.jsonl)")
    adapters = _adapters(args.adapter)
    models = [] if args.no_base else [ModelUnderTest(BASE)]
    models += [ModelUnderTest(name, str(folder)) for name, folder in adapters]
    if not models:
        raise UserError("nothing to evaluate: give --adapter or drop --no-base")
    if len({m.name for m in models}) != len(models):
        raise UserError("the models need distinct names: label adapters with NAME=PATH")
    settings = sandbox_settings(args)
    base = _base_model(adapters, args.model)
    if base:
        settings = settings.model_copy(update={"model": base})
    benchmark = None
    if args.benchmark:
        try:
            repo = Path(read_manifest(args.extraction).repository)
            benchmark = Benchmark.from_dict(EvalReport.read(args.benchmark).data["benchmark"], repo)
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise UserError(f"cannot replay the benchmark of {args.benchmark}: {err}") from err
    try:
        report = evaluate(
            args.extraction,
            models,
            modes,
            settings=settings,
            turns=args.turns,
            samples=args.samples,
            workers=args.workers,
            limit=args.limit,
            start=args.start,
            seed=args.seed,
            python=args.python,
            benchmark=benchmark,
        )
    except EvaluationError as err:
        raise UserError(str(err)) from err
    out = args.out
    if out is None:
        if len(adapters) == 1:
            out = adapters[0][1]
        else:
            stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
            name = report.data["extraction"]["name"] or "repository"
            out = training_root(settings, name) / "eval" / f"{report.data['extraction']['version']}-{stamp}"
    paths = write_report(report, out)
    for model in models:
        for mode in modes:
            cell = report.cell(model.name, mode)
            curve = "  ".join(f"@{k} {100 * v:.0f}%" for k, v in cell["pass_at"].items())
            console.print(f"{model.name:>12} {mode!s:>8}: Pass{curve}  ({cell['fixed']}/{cell['n']} fixed)")
    console.print(f"report: {paths['json']} (+ {paths['markdown'].name}, {paths['plot'].name})")
    return 0
