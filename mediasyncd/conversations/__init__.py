"""The ChatGPT kind: data exports and privacy-request archives, linked to conversations
and messages.

- `handler`: the readers (detection, roles, keys, interpreting the documents);
- `parse`, `tree`, `extract`: conversations streamed out of the JSON, their message
  tree, their references to files;
- `keys`: the lookup keys a file's place gives it; `record`: what a conversation puts
  in the index;
- `matcher` and `mentions`: linking files to conversations and messages;
- `kind`: the registration in mediasyncd.kinds.
"""
