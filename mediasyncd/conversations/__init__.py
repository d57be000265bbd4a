"""ChatGPT conversations: extracting references, recording them, and matching files to them."""
