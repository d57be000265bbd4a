"""Linking image-dump photos to LLM traces (the meal-images case, docs/formats.md §3).

- `pairing`: the 1-to-1 time assignment (pure functions on sorted times);
- `matcher`: the `SubjectMatcher` for subject 'trace' (ids are user ids);
- `report`: pairs, unused traces, unmatched images and their statistics.
"""
