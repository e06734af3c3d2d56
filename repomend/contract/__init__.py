"""The train/serve contract: everything a model reads and everything that decides what its answer is.

An adapter is only as good as the match between the text it was trained on and the text it is
served, and a "fixed" verdict only as honest as the one reading of an answer behind it. So each
piece lives once, here, and the loop, every engine, training (teachers, SFT/DPO data, rewards)
and evaluation call it:

- `prompts`: the system prompt, the first turn (generate from a removed body, or the method as
  given and its test output), the follow-up turns (`ITERATION_PROMPT` with its `TEST_RESULT:`,
  `REPEAT_PROMPT`, `NEW_APPROACH`), the file excerpt, the note on omitted turns, and how answers
  look in history (`as_code_reply`, `history_code`: no repeated docstring).
- `conversation`: the one `Mode` (think / no-think) and `Message`, the think prefill and the
  forced close of a spent thinking budget, splitting reasoning off a reply (`split_reasoning`),
  taking its python block (`extract_code`), and history stripping (`history_reply`: reasoning is
  never fed back).
- `feedback`: the text behind `TEST_RESULT:`: the failing line, failures grouped by error, the
  rejections (no code block, bad splice, screened use) and dodged tests.
- `rendering`: chat rendering through the model's own template (`render_prompt`) and what the
  prompt already holds of the reply (`completion_prefix`).
- `answers`: reading an answer (`read_answer`: extract, splice, keep the docstring, screen) with
  the code key that says two answers are the same code.
- `screen`: the uses an answer may not introduce (process exits, frame tricks, test edits).
- `verdict`: judging a sandbox run against the ground truth's run, so a fix cannot be faked.
"""
