"""Generators the tests and the benchmarks (bench/) share: the ChatGPT export corpus
(`chatgpt_gen`, `chatgpt_corpus`), export fixtures (`export_builders`), image dumps with
their traces (`traces_gen`) and the hostile-archive corpus (`hostile_corpus`)."""
