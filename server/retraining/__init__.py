"""Retraining jobs: extract -> generate -> dataset -> SFT (-> DPO -> GRPO) -> evaluate -> gate.

A job is a `TrainingRun` row (the source of truth) worked by its own process, so a crash of the
training code never takes the repair server down, and a server restart can tell which jobs died.
"""
