"""`compound datasets fetch`: the public datasets from their original sources, pinned by URL
and sha256 (:mod:`.fetching`), what they are (:mod:`.manifest`), how they are downloaded
(:mod:`.download`) and converted (:mod:`.convert`).

Example:
    >>> sorted(MANIFEST)[:3]
    ['banking77', 'hotpotqa', 'prompt-injections']
"""


from compound.datafetch.convert import ConversionFailed
from compound.datafetch.download import ChecksumMismatch, FetchFailed
from compound.datafetch.fetching import MIRROR_ENV, FetchResult, fetch, is_present, resolve_names
from compound.datafetch.manifest import MANIFEST, Entry, Output, Source

__all__ = ["MANIFEST", "MIRROR_ENV", "ChecksumMismatch", "ConversionFailed", "Entry",
           "FetchFailed", "FetchResult", "Output", "Source", "fetch", "is_present",
           "resolve_names"]
