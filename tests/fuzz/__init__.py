"""All fuzzing, in one place: Hypothesis tests of the readers (`test_fuzz_readers`,
`test_fuzz_chatgpt`, derandomized in the default run) and atheris coverage-guided fuzzing
(`test_atheris` with `atheris_harness`), which replays the saved inputs in `corpus/`
by default and explores with a random seed only under `pytest -m fuzz`."""
