"""Source readers: everything a user can drop, read as a stream of members.

`container` walks folders, zips and nested zips safely (with `safety`, `zipnames`,
`wrapped_zip`); `base` defines the handler interface each kind of drop implements;
`detect` picks the handler by content among those the kinds register
(mediasyncd.kinds); `plain` is the fallback that stores everything. Nothing here knows
what a drop means: that is each kind's package.
"""
