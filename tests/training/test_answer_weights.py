"""Which answer tokens a fix changed, and the weights the SFT loss gives them."""

from __future__ import annotations

import re

from tests.support.sft_datasets import tiny_chat_model, write_dataset
from training.answer_weights import changed_token_weights, copied_from_prompt
from training.sft_config import SFTConfig
from training.sft_data import load_sft_data
from training.sft_trainer import _answer_weights, build_trainer

__all__ = ["tiny_chat_model"]


def test_the_changed_token_is_the_one_the_answer_does_not_copy_from_the_prompt_s_code():
    shown = [10, 11, 12, 13, 14]  # the method as the prompt shows it
    prompt = [1, 99, 2, *shown, 3]  # 99, the fix, occurs elsewhere in the prompt
    answer = [10, 11, 99, 13, 14]
    copied = copied_from_prompt(prompt, answer)
    assert copied == [True, True, False, True, True]
    weights = changed_token_weights(copied, 10.0)
    assert abs(sum(weights) - len(answer)) < 1e-9  # the row weighs what it weighed before
    assert abs(weights[2] - 10 * weights[0]) < 1e-9


def test_an_answer_written_from_nothing_or_copied_whole_keeps_the_plain_loss():
    assert changed_token_weights([False] * 4, 10.0) == [1.0] * 4
    assert changed_token_weights([True] * 3, 10.0) == [1.0] * 3
    assert changed_token_weights([], 10.0) == []


def test_the_weighted_loss_puts_the_weight_on_the_fix(tiny_chat_model, tmp_path):
    """The training loss with changed tokens weighted is the per-token cross-entropy of the full
    projection times those weights, the validation loss is the plain one, and the changed tokens of
    a mutant's repair are its fix."""
    import torch
    import torch.nn.functional as F
    from transformers import AutoModelForCausalLM, AutoTokenizer

    data = load_sft_data(write_dataset(tmp_path / "ds", train=4, validation=0))
    tokenizer = AutoTokenizer.from_pretrained(tiny_chat_model)
    model = AutoModelForCausalLM.from_pretrained(tiny_chat_model)
    config = SFTConfig(
        effective_batch_size=4, per_device_batch_size=2, bf16=False, lora_dropout=0.0, changed_token_weight=10
    )
    trainer = build_trainer(data, tokenizer, model, config, tmp_path / "w", progress=False)
    batch = trainer._prepare_inputs(next(iter(trainer.get_train_dataloader())))
    labels = batch["labels"]
    weights, changed = _answer_weights(batch["input_ids"], labels, 10.0)
    targets = labels[:, 1:][labels[:, 1:] != -100]
    rows = torch.split(torch.arange(len(targets)), (labels[:, 1:] != -100).sum(1).tolist())
    for row in rows:  # x * 3 -> x * 2; a think block is new text too
        text = tokenizer.decode(targets[row][changed[row]])
        assert re.sub(r"<think>.*</think>", "", text, flags=re.S).strip() == "2", text

    trainer.model.train()  # no dropout anywhere: train mode changes only what the loss weighs
    with torch.no_grad():
        ours = trainer.compute_loss(trainer.model, dict(batch))
        forward = {k: v for k, v in batch.items() if k != "labels"}
        logits = trainer.model(**forward).logits[:, :-1][labels[:, 1:] != -100].float()
        losses = F.cross_entropy(logits, targets, reduction="none")
        assert torch.allclose(ours, (losses * weights).sum() / targets.numel(), rtol=1e-5)
        assert not torch.allclose(ours, losses.mean(), rtol=1e-3)
        trainer.model.eval()  # the validation loss is the plain one, comparable between runs
        assert torch.allclose(trainer.compute_loss(trainer.model, dict(batch)), losses.mean(), rtol=1e-5)
