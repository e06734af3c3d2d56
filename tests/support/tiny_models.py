"""Tiny chat models built on the spot (random and scripted), so backend tests need no download."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a helpful AI assistant<|im_end|>\n' }}{% endif %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
"""SmolLM2's template (which injects a default system prompt when none is given)."""

_CORPUS = [
    "def mean(xs):\n    return sum(xs) / len(xs)\n",
    "class Stack:\n    def push(self, item):\n        self.items.append(item)\n",
    "<think>\nThe loop bound is off by one.\n</think>\n\n```python\ndef f(x):\n    return x\n```",
    "Generate code for the method `push` in the class `Stack`. Tests failed: assert 1 == 2",
    "You are an expert Python programmer who repairs and completes code.",
]
SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]


@dataclass(frozen=True)
class TinyModel:
    folder: Path
    adapters_dir: Path


SCRIPTED_REASONING = "ab"
SCRIPTED_ANSWER = "xy"
"""What the scripted model writes after `<think>\n`: `ab</think>xy`, then it ends its turn."""


def build_tokenizer(folder: Path):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    core.train_from_iterator(_CORPUS * 4, trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core,
        bos_token="<|im_start|>",
        eos_token="<|im_end|>",
        pad_token="<|im_end|>",
        unk_token="<|endoftext|>",
    )
    tokenizer.chat_template = CHATML_TEMPLATE
    tokenizer.save_pretrained(folder)
    return tokenizer


def build_model(
    folder: Path,
    tokenizer,
    *,
    hidden_size: int = 32,
    intermediate_size: int = 64,
    max_position_embeddings: int = 2048,
) -> None:
    """A two-layer Llama for `tokenizer` with random weights (seeded), saved in `folder`.

    A sharp head makes greedy choices robust to rounding; zero rows for the special tokens (whose
    logit is then 0, below the best of the random ones) mean the model never ends a turn on its own,
    so every reply runs to its token limit and tests can assert exact token counts.
    """
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    eos = tokenizer.convert_tokens_to_ids(tokenizer.eos_token)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=intermediate_size,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=max_position_embeddings,
        bos_token_id=tokenizer.convert_tokens_to_ids(tokenizer.bos_token),
        eos_token_id=eos,
        pad_token_id=eos,
        tie_word_embeddings=False,
    )
    model = LlamaForCausalLM(config)
    with torch.no_grad():
        model.lm_head.weight.mul_(20.0)
        for token in tokenizer.all_special_ids:
            model.lm_head.weight[token] = 0.0
    model.save_pretrained(folder)


def build_scripted_model(folder: Path, tokenizer) -> None:
    """A bigram model whose greedy output is fixed: each token determines the next one.

    One-hot embeddings pass unchanged through a layer whose output projections are zero, and
    the head maps token t to its successor, so the think block closes by itself.
    """
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    encode = lambda text: tokenizer(text, add_special_tokens=False)["input_ids"]  # noqa: E731
    [newline] = encode("\n")
    chain = [newline, *encode(SCRIPTED_REASONING + "</think>" + SCRIPTED_ANSWER)]
    if len(set(chain)) != len(chain):
        raise RuntimeError(f"the scripted text must use distinct tokens, got {chain}")
    eos = tokenizer.convert_tokens_to_ids("<|im_end|>")
    size = len(tokenizer)
    config = LlamaConfig(
        vocab_size=size,
        hidden_size=size,
        intermediate_size=8,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=2048,
        eos_token_id=eos,
        pad_token_id=eos,
        tie_word_embeddings=False,
    )
    model = LlamaForCausalLM(config)
    with torch.no_grad():
        model.model.embed_tokens.weight.copy_(torch.eye(size))
        model.model.layers[0].self_attn.o_proj.weight.zero_()
        model.model.layers[0].mlp.down_proj.weight.zero_()
        head = torch.zeros(size, size)
        head[eos, :] = 1.0  # anything off the script ends the turn
        for current, following in zip(chain, [*chain[1:], eos], strict=True):
            head[following, current] = 10.0
        model.lm_head.weight.copy_(head)
    model.save_pretrained(folder)


def build_adapter(model_folder: Path, target: Path, seed: int = 1) -> None:
    """A real PEFT LoRA adapter with random weights (seeded) for the model in `model_folder`."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    base = AutoModelForCausalLM.from_pretrained(model_folder)
    config = LoraConfig(
        r=4,
        lora_alpha=8,
        target_modules=["q_proj", "k_proj", "v_proj", "o_proj"],
        init_lora_weights=False,  # random A and B: the adapter visibly changes the outputs
    )
    get_peft_model(base, config).save_pretrained(target)
