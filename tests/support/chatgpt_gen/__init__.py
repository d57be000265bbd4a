"""Building blocks of the ChatGPT test corpus; the public face is tests/support/chatgpt_corpus.py.

- ids: deterministic OpenAI-shaped ids (file-service, sediment, UUIDs) and sizes;
- model: conversations, messages, references, assets and library entries;
- build: the scenario builder (uploads, DALL·E, GPT-4o images, code interpreter, voice,
  branches, privacy-archive placements, distractors);
- writers / privacy: era A, B, C, multi-part and privacy-archive layouts, zip or folder;
- truth: the expected links and unresolved references, computed from the model by the
  rules of the linking spec, independently of mediasyncd's code.
"""
