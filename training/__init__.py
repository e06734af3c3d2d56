"""training: from a repository's tested methods to an adapter, and Pass@k of that adapter.

The layout follows TRL: per trainer `<algo>_config.py` (a dataclass, each field with its help),
`<algo>_trainer.py`, and a command in `commands/` whose flags are made from the config.

- data: `extract` (test-covered methods, `records`, `split`), `generate` (teachers in the repair
  loop: `teachers`, `mutation`, `retention`, `trajectory_store`), `dataset` (`reasoning`,
  `prompts`, `exports`, `normalize`), `pairs` (preference pairs from trajectories);
- trainers: SFT (`sft_config`, `sft_data`, `sft_trainer`), DPO (`preference_config`,
  `preference_data`, `preference_trainer`), GRPO (`rl_config`, `rl_tasks`, `rewards`,
  `rl_trainer`); what they share: `starting_model`, `publish`, `callbacks`, `adapter_manifest`;
- evaluation: `benchmark`, `evaluate`, `codebleu`, `report`;
- `commands/` (`repomend train STEP`, `repomend eval`), `errors` (`TrainingError` and one subclass
  per step), `storage` (where files live under the data directory).

How to run each step: `training/README.md`.
"""
