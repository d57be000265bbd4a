"""The traces kind: image-dump photos linked to LLM traces (the meal-images case,
docs/formats.md, sections 8 and 9).

- `langfuse` and `image_dump`: the readers; `parse` and `imagetime`: trace exports and
  the clocks a photo carries;
- `record`: what traces and photos put in the index;
- `pairing`: the 1-to-1 time assignment (pure functions on sorted times);
- `matcher`: the `SubjectMatcher` for subject 'trace' (ids are user ids);
- `report`: pairs, unused traces, unmatched images and their statistics;
- `kind`: the registration in mediasyncd.kinds.
"""
