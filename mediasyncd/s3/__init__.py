"""S3-compatible object storage: what the S3 store and the S3 source share.

- `url`: `s3://BUCKET/PREFIX` parsed and checked (no boto3 needed, so the config can be
  checked on the default install);
- `client`: the boto3 client, built only when an s3:// URL is used (the `scale` extra),
  with credentials from the standard AWS chain, and errors worded for people;
- `reader`: an object as a seekable stream of ranged GETs, never read whole.
"""
