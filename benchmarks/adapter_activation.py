"""How long an adapter activation takes to reach users: from the activate call to the first
completed repair that reports the new adapter, on a running server (in-process, real model,
real PEFT LoRA adapters; the tests are scripted to be instant so the figure is the model's).

Several fresh adapters are registered and activated in turn; for each it measures the activate
call, the first repair after it (which loads the adapter on first use) and the same repair
again (adapter loaded); medians are printed, their difference being the cost of hot-loading.
The figure is what the repair takes plus that cost: a longer answer only adds generation time.

    .venv/bin/python benchmarks/adapter_activation.py [--model tiny|default] [--tokens 48]
        [--rank 32] [--adapters 4]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from fastapi.testclient import TestClient

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from repomend.backends.model_files import DEFAULT_MODEL_NAME, default_model_folder  # noqa: E402
from repomend.backends.transformers_backend import TransformersBackend  # noqa: E402
from repomend.settings import ServerSettings, Settings  # noqa: E402
from server.app import create_app  # noqa: E402
from server.db.migrate import upgrade  # noqa: E402
from tests.support.adapter_folders import write_manifest  # noqa: E402
from tests.support.repos import ONE_MEAN_TEST, make_repo  # noqa: E402
from tests.support.server_client import instant_runner  # noqa: E402
from tests.support.tiny_models import build_model, build_tokenizer  # noqa: E402

ADAPTERS = "/v1/admin/repositories/stats/adapters"
REPAIR = {
    "repository": "stats",
    "path": "pkg/stats.py",
    "target": {"qualname": "Stats.mean"},
    "tests": ONE_MEAN_TEST,
    "max_turns": 1,
}


def lora(model: Path, target: Path, seed: int, rank: int, base_model: str) -> Path:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    base = AutoModelForCausalLM.from_pretrained(model)
    config = LoraConfig(
        r=rank,
        lora_alpha=2 * rank,
        target_modules=["q_proj", "k_proj", "v_proj", "o_proj"],
        init_lora_weights=False,
    )
    get_peft_model(base, config).save_pretrained(target)
    write_manifest(target, base_model)
    return target


def repair(client: TestClient) -> tuple[dict, float]:
    started = time.perf_counter()
    result = client.post("/v1/repairs?wait=true", json=REPAIR).json()
    return result, time.perf_counter() - started


def switch(client: TestClient, path: str) -> tuple[float, float, float]:
    """Activate (or roll back), then repair twice: call time, first repair done, warm repair."""
    started = time.perf_counter()
    response = client.post(ADAPTERS + path)
    assert response.status_code == 200, response.text
    called = time.perf_counter() - started
    first, _ = repair(client)
    first_done = time.perf_counter() - started
    assert first["adapter"] == response.json()["active"], first
    _, warm = repair(client)
    return called, first_done, warm


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", choices=["tiny", "default"], default="tiny")
    parser.add_argument("--tokens", type=int, default=48, help="new tokens per answer")
    parser.add_argument("--rank", type=int, default=32, help="LoRA rank (the training default is 32)")
    parser.add_argument("--adapters", type=int, default=4, help="fresh adapters activated in turn")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="repomend-adapters-"))
    if args.model == "tiny":
        model = tmp / "tiny-chat"
        model.mkdir()
        build_model(model, build_tokenizer(model))
        name = "tiny-chat"
    else:
        model = default_model_folder(Settings())
        name = DEFAULT_MODEL_NAME
    url = f"sqlite:///{tmp / 'server.db'}"
    upgrade(url)
    settings = Settings(
        data_dir=tmp / "data",
        database_url=url,
        model=str(model),
        max_new_tokens=args.tokens,
        server=ServerSettings(queue_capacity=4),
        _env_file=None,
    )
    folders = [
        lora(model, tmp / f"out-{i}", seed=i, rank=args.rank, base_model=name)
        for i in range(1, args.adapters + 1)
    ]
    repo = make_repo(tmp / "repo")
    backend = TransformersBackend(settings)
    with TestClient(create_app(settings, backend, runner_factory=instant_runner)) as client:
        client.post(
            "/v1/admin/repositories", json={"name": "stats", "path": str(repo), "python": sys.executable}
        )
        for folder in folders:
            assert client.post(ADAPTERS, json={"path": str(folder)}).status_code == 201
        _, _ = repair(client)  # warm-up: the first generation of a process is slower
        _, base = repair(client)
        runs = [switch(client, f"/v{i}/activate") for i in range(1, args.adapters + 1)]
        back = switch(client, "/rollback")  # to a version already loaded
    calls, firsts, warms = (statistics.median(column) for column in zip(*runs, strict=True))
    print(
        f"model {name}, LoRA r={args.rank} on q/k/v/o, {args.tokens} new tokens, 1 turn, "
        f"{args.adapters} adapters"
    )
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores; base-model repair {base:.3f} s")
    print(f"activate call (median): {1000 * calls:.1f} ms")
    print(f"activation -> first repair served by the new adapter completed (median): {firsts:.3f} s")
    print(f"the same repair with the adapter loaded (median): {warms:.3f} s")
    print(f"hot-load cost on first use (median difference): {firsts - calls - warms:+.3f} s")
    print(f"rollback to a loaded version -> first repair completed: {back[1]:.3f} s (warm {back[2]:.3f} s)")
    print(f"hot-load cost alone, 1-token answers (median): {load_cost(backend, folders, tmp):+.3f} s")
    backend.close()
    return 0


def load_cost(backend: TransformersBackend, folders: list[Path], tmp: Path) -> float:
    """First use minus second use of fresh adapters, on 1-token answers so generation is negligible."""
    from repomend.backends.base import GenerationConfig
    from repomend.contract.conversation import Mode

    config = GenerationConfig(max_new_tokens=1)
    messages = [{"role": "user", "content": "Fix mean."}]
    costs = []
    for folder in folders:
        name = str(folder)  # an absolute path: a name no earlier step loaded
        timings = []
        for _ in range(2):
            started = time.perf_counter()
            backend.generate(messages, mode=Mode.NO_THINK, config=config, adapter=name)
            timings.append(time.perf_counter() - started)
        costs.append(timings[0] - timings[1])
    return statistics.median(costs)


if __name__ == "__main__":
    sys.exit(main())
