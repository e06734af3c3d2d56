"""`repomend train dataset TRAJECTORIES...`: a versioned dataset in TRL and ShareGPT form."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console

from training.commands.options import add_teachers_file_option, teachers_file
from training.exports import DatasetMode
from training.retention import TARGETS


def add(train_commands: argparse._SubParsersAction) -> None:
    parser = train_commands.add_parser(
        "dataset", help="build a fine-tuning dataset (TRL messages + ShareGPT) from trajectory folders"
    )
    parser.add_argument(
        "trajectories", type=Path, nargs="+", metavar="TRAJECTORIES", help="`train generate` folders"
    )
    parser.add_argument(
        "--mode",
        choices=[str(mode) for mode in DatasetMode],
        default=DatasetMode.NO_THINK,
        type=DatasetMode,
        help="answers as written (default), with teacher reasoning before the last one, or both forms",
    )
    parser.add_argument(
        "--reasoning-teacher", metavar="NAME", help="who writes the reasoning (think / hybrid)"
    )
    add_teachers_file_option(parser)
    parser.add_argument("--compress", action="store_true", help="have the teacher shorten each reasoning")
    parser.add_argument("--compress-tokens", type=int, default=300, help="target length of --compress (300)")
    parser.add_argument(
        "--workers", type=int, default=1, help="reasoning requests at the same time (default 1)"
    )
    parser.add_argument(
        "--target",
        dest="targets",
        action="append",
        choices=TARGETS,
        help="keep items ending in this answer (repeatable; default both): `teacher` alone keeps only "
        "fixes a teacher wrote and the tests passed, e.g. the `student`'s own (rejection sampling)",
    )
    parser.add_argument("--model", help="the student's model, when it writes the reasoning")
    parser.add_argument(
        "--out", type=Path, help="folder (default: <data dir>/training/<repo>/datasets/<version>)"
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, console: Console) -> int:
    from repomend.backends.base import BackendError
    from repomend.errors import UserError
    from repomend.settings import Settings
    from training.dataset import DatasetError, DatasetOptions, build_dataset
    from training.teachers import TeacherError, load_teacher, parse_teacher, read_teachers_file

    settings = Settings()
    if args.model:
        settings = settings.model_copy(update={"model": args.model})
    if args.workers < 1 or args.compress_tokens < 1:
        raise UserError("--workers and --compress-tokens must be at least 1")
    if args.mode == DatasetMode.NO_THINK and (args.reasoning_teacher or args.compress):
        raise UserError("--reasoning-teacher and --compress only apply to --mode think or hybrid")
    for path in args.trajectories:
        if not path.exists():
            raise UserError(f"no such trajectories folder: {path}")
    teacher = None
    try:
        if args.reasoning_teacher:
            path = teachers_file(args, settings)
            spec = parse_teacher(args.reasoning_teacher, read_teachers_file(path) if path else {})
            if spec.kind == "mutation":
                raise UserError("the mutation teacher has no model: it cannot write reasoning")
            with console.status(f"setting up teacher {spec.name}"):
                teacher = load_teacher(spec, settings)
        options = DatasetOptions(
            mode=args.mode,
            compress=args.compress,
            compress_tokens=args.compress_tokens,
            workers=args.workers,
            **({"targets": tuple(args.targets)} if args.targets else {}),
        )
        dataset = build_dataset(
            args.trajectories, settings=settings, options=options, reasoning_teacher=teacher, out=args.out
        )
    except (TeacherError, DatasetError) as err:
        raise UserError(str(err)) from err
    except BackendError as err:
        raise UserError(f"the reasoning teacher failed: {err}") from err
    finally:
        if teacher is not None:
            teacher.close()

    manifest = dataset.manifest
    counts = manifest["counts"]
    rows = counts["rows"]
    console.print(
        f"dataset {manifest['version']} ({manifest['mode']}): train {rows['train']} rows, "
        f"validation {rows['validation']} rows from {counts['items_used']} items"
    )
    console.print("rules: " + ", ".join(f"{k} {v}" for k, v in counts["by_rule"].items()))
    console.print("teachers: " + ", ".join(f"{k} {v}" for k, v in counts["by_teacher"].items()))
    if counts["dropped"]:
        console.print("dropped: " + ", ".join(f"{k} {v}" for k, v in counts["dropped"].items()))
    if manifest["reasoning"]:
        r = manifest["reasoning"]
        console.print(
            f"reasoning: {r['items']} item(s), mean {r['mean_tokens']} tokens, {r['missing']} missing"
        )
    console.print(f"written to {dataset.folder}")
    return 0
