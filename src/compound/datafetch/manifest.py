"""The public datasets `compound datasets fetch` can download: where each comes from (a URL
pinned to a commit or a published file), its sha256, and the files it becomes on disk.

Every source is checked against its ``sha256`` as it arrives. Where the source file could not
be obtained when the manifest was written (``sha256=None``: a zip on a file host, a Parquet
file on Hugging Face), the *converted* files are pinned instead: each output's sha256 is
that of the file the tests and benchmarks were measured on, so a fetch that does not
reproduce it byte for byte fails and leaves nothing in place.

A mirror (``$COMPOUND_DATASETS_MIRROR``) serves each source as
``{mirror}/{dataset}/{source.filename}``.

Example:
    >>> entry = MANIFEST["banking77"]
    >>> [o.path for o in entry.outputs]
    ['banking77/train.jsonl', 'banking77/valid.jsonl', 'banking77/test.jsonl']
    >>> entry.sources[0].sha256 is not None
    True
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Source:
    """One file to download.

    Attributes:
        filename: its name in the download folder and on a mirror.
        url: where it is published.
        sha256: its digest, or None where only the converted output is pinned.
        size: its size in bytes, when known (for the progress bar before the server says).
    """

    filename: str
    url: str
    sha256: str | None = None
    size: int | None = None


@dataclass(frozen=True)
class Output:
    """One file a dataset is made of, relative to the datasets folder, with its digest."""

    path: str
    sha256: str
    size: int


@dataclass(frozen=True)
class Entry:
    """A dataset: its sources, how they become its files, and the files."""

    name: str
    title: str
    licence: str
    sources: tuple[Source, ...]
    convert: str
    outputs: tuple[Output, ...]
    note: str = ""

    @property
    def size(self) -> int:
        """Bytes on disk once fetched."""
        return sum(o.size for o in self.outputs)


_FSID = ("https://raw.githubusercontent.com/jianguoz/Few-Shot-Intent-Detection/"
         "fa9553312b1dba54b1be0aae2d30b13171f898e5/Datasets")
_PUBMEDQA = ("https://raw.githubusercontent.com/pubmedqa/pubmedqa/"
             "1cbae8e92f72f20c8d3747cbb3bf5bc53554d997")
_PYCARET = ("https://raw.githubusercontent.com/pycaret/datasets/"
            "6999ad055606031b6c24d26e5a0ed71fede11f5f/data/common")
_HF_PARQUET = ("https://huggingface.co/datasets/deepset/prompt-injections/resolve/"
               "refs%2Fconvert%2Fparquet/default")


def _intent_sources(folder: str, digests: dict[str, tuple[str, int]]) -> tuple[Source, ...]:
    return tuple(Source(f"{split}.{kind}", f"{_FSID}/{folder}/{split}/{kind}", *digests[
        f"{split}/{kind}"]) for split in ("train", "valid", "test") for kind in ("seq.in", "label"))


MANIFEST: dict[str, Entry] = {e.name: e for e in (
    Entry(
        "banking77", "Banking77: banking support utterances, 77 intents", "CC BY 4.0 (PolyAI)",
        _intent_sources("BANKING77", {
            "train/seq.in": ("89a1efb29a2a306e9bb7bcfd0d1ce6b52fa68cb8fdd3ba55cf47d9313f234bda",
                             524784),
            "train/label": ("24a57f715e0e895a5d31aee19975a999ad767b8a0006123df7d36e48c9620fec",
                            191583),
            "valid/seq.in": ("ab2f65c221ee3cb55fd6e49473e443cef7f1305b8076fe2f2e00ad73c4b661c4",
                             88552),
            "valid/label": ("4ae5df44bcf58ba16b6069fb0e60cfc84c908a8c2f4b7613e07169f4d8986893",
                            32980),
            "test/seq.in": ("0fee79ac6587b8842e7c6a2aeef90f336e91a1b4556524b6a43e4fcfdd9d49d4",
                            170126),
            "test/label": ("70ae5f494bf8ad54d9315333bf8bc69ebb52fd8604bb7a3c0cbd0487d8695c18",
                           65960),
        }),
        "intent_lines",
        (Output("banking77/train.jsonl",
                "55a0519e0673ed0290ecb9d7a1c7ee4beb176174e3c8567be0309d6bdfea1f3e", 923494),
         Output("banking77/valid.jsonl",
                "52e2c7ce053ad32779a9ab7fb5c43752666bae7e48a724fd41164e55b159ab8b", 158531),
         Output("banking77/test.jsonl",
                "f7025ca4e6b05a9b9566d39e2f7fbf4796a581dc81d982e11eb56b6c81867363", 310053)),
        note="Few-Shot-Intent-Detection's split (train/valid re-split, the official test); "
             "also shipped with examples/support_desk",
    ),
    Entry(
        "snips", "SNIPS: voice-assistant utterances, 7 intents",
        "research use (Sonos/Snips NLU benchmark)",
        _intent_sources("SNIPS", {
            "train/seq.in": ("04ad1e3f2121d83c6478f9a4b17d2dbdc21d06d6127f73cb7af835ed733f9855",
                             617079),
            "train/label": ("bfd7df6cf9dd76c5da5d8b61bc85f90386197bdd3d7510c1d324c051537b962f",
                            184532),
            "valid/seq.in": ("64e0f6d8ad8aab3a3828164d7d53731a0993d3ca1aed437ceaca6d3d568d410e",
                             33629),
            "valid/label": ("9c1dd041216f647bcfca838aaf1a48eb5781e4404256d31ff07cd38a5436c52f",
                            9900),
            "test/seq.in": ("c1e341173fcea2951a8ca371956a6f81c76de87b9583c62eb87edd6158fa3a7c",
                            33121),
            "test/label": ("37a26da3ad079bb41c42c85a3a8f827eb47efec4c5917ce5d08f4b2736e4f830",
                           10120),
        }),
        "intent_lines",
        (Output("snips/train.jsonl",
                "8128bd94bef1b776e74311afe18e40497f6cbb194e60394c7bcaca72e04d84f3", 1114057),
         Output("snips/valid.jsonl",
                "6d84bea8ecd872634caa3cc1ca3c2908f8b789e89c605bec7d724f498405373a", 60164),
         Output("snips/test.jsonl",
                "482bdf0ccb00bbe2eee763e8a6af814f35876d8fb17f37416a17be2d3817628c", 59967)),
    ),
    Entry(
        "pubmedqa", "PubMedQA expert-labelled set (1,000; 500 marked test)", "MIT",
        (Source("ori_pqal.json", f"{_PUBMEDQA}/data/ori_pqal.json",
                "8b3276be8942ebbd77f3ddcda12c1749bf0e490045a736fd8438ee40cf37a41d", 2584787),
         Source("test_ground_truth.json", f"{_PUBMEDQA}/data/test_ground_truth.json",
                "939fe566f09017d13b1ca64d2ddfee0bc2374b366048152997669cccedc44d51", 11414),
         Source("LICENSE", f"{_PUBMEDQA}/LICENSE",
                "8e75abc6136be91e5ae66dbb6dda07c8bc9dcc215ed3bc1ba3ae7fab7904777e", 1065)),
        "pubmedqa",
        (Output("pubmedqa/pqal.jsonl",
                "051dd56376777e06ab5d7e431fec2ddf1874d5aee1bb96405cdea3693a86c321", 1827554),
         Output("pubmedqa/LICENSE",
                "8e75abc6136be91e5ae66dbb6dda07c8bc9dcc215ed3bc1ba3ae7fab7904777e", 1065)),
    ),
    Entry(
        "tabular", "UCI Adult income and Taiwan credit-card default", "as distributed by "
        "pycaret/datasets (MIT); Adult: UCI (CC BY 4.0); credit default: UCI (CC BY 4.0)",
        (Source("income.csv", f"{_PYCARET}/income.csv",
                "dbcdedc85eb3e7c8b9c344ba00faef33bc86d10946e11baac9fb468cae06101a", 3169669),
         Source("credit.csv", f"{_PYCARET}/credit.csv",
                "0f2c8fcc66e1f90e5fa79b92df18c0a67f8c7c4ec1eabbc4fd256438bcc608bf", 2158288)),
        "tabular",
        (Output("tabular/adult-income.csv",
                "dbcdedc85eb3e7c8b9c344ba00faef33bc86d10946e11baac9fb468cae06101a", 3169669),
         Output("tabular/credit-default.csv",
                "0f2c8fcc66e1f90e5fa79b92df18c0a67f8c7c4ec1eabbc4fd256438bcc608bf", 2158288)),
    ),
    Entry(
        "prompt-injections", "deepset/prompt-injections: benign (0) or injection (1)",
        "Apache-2.0 (deepset)",
        (Source("train.parquet", f"{_HF_PARQUET}/train/0000.parquet"),
         Source("test.parquet", f"{_HF_PARQUET}/test/0000.parquet")),
        "parquet_text_label",
        (Output("prompt-injections/train.jsonl",
                "0a502485fdfa7d40d9708c607bcd47668aea6f919f77cffc1bbdbf582bec742f", 81333),
         Output("prompt-injections/test.jsonl",
                "298a5744e0160f1bbe0a5a585932f06917ef9f2f12e2b088c259f0f2407e18cf", 17850)),
        note="source not hashed (Hugging Face's Parquet conversion); the converted files are "
             "pinned; also shipped with examples/support_desk",
    ),
    Entry(
        "scifact", "BEIR SciFact: 300 test claims against 5,183 abstracts",
        "CC BY-NC 2.0 (allenai): research only, never shipped",
        (Source("scifact.zip",
                "https://public.ukp.informatik.tu-darmstadt.de/thakur/BEIR/datasets/scifact.zip"),),
        "beir",
        (Output("scifact/corpus.jsonl",
                "d5060d632f8d25192c8b8da8d23ef38d9148c1c2cf1adf31413d1ca9caca860b", 8000652),
         Output("scifact/queries.jsonl",
                "fcae2ad6f9ea33f15857f87e24086dd33e5a9523b79feb7a19dd545660be9212", 35313),
         Output("scifact/qrels.test.tsv",
                "18a49075af697c9bcdb3cf7b3618a12b32be0697a7e15f10a07de09d914d59b2", 5049)),
        note="source not hashed (the BEIR zip); the converted files are pinned",
    ),
    Entry(
        "hotpotqa", "HotpotQA dev, distractor setting: IRCoT's 500-question subsample",
        "CC BY-SA 4.0",
        (Source("processed_data.zip",
                "https://drive.usercontent.google.com/download?id=1t2BjJtsejSIUZI54PKObMFG6_wMMG3bC"
                "&export=download&confirm=t"),),
        "ircot_hotpotqa",
        (Output("hotpotqa/dev500.jsonl",
                "60e8af7204f3331715884310206098717b5276ba008b75b159b3dff2f308d872", 3146491),),
        note="source not hashed (IRCoT's processed_data.zip, a large archive of several "
             "datasets); the converted file is pinned",
    ),
)}
