"""Reading the filesystem safely: what a drop path may be (`guard`), walking folders
without following links (`tree`), and file names as lossless text (`pathtext`)."""
