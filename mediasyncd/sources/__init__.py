"""Source readers: everything a user can drop, read as a stream of members.

`container` walks folders, zips and nested zips safely; `base` defines the handler
interface each kind of drop implements (ChatGPT export, privacy archive, image dump,
trace export, plain media); `registry` picks the handler by content.
"""
