"""The real multilingual pool of ``make worldwide``, built from ``../shared/data`` (test data, never committed).

- Multi30k captions: each image described in English, German, French and Czech (``image`` = its
  Flickr30k file name from ``*.images.txt``, so the four texts share one image);
- the image captions and alt texts that ``wiki-captions`` extracts from each truncated Wikipedia
  dump (bn, el, hy, ja, mr, uk, vi) and from the embedded English sample (``image`` = the file the
  caption describes, shared when two wikis show the same file);
- the Tatoeba sentences (no image: each is its own).

Every row keeps its known language (``gold``, a Wikipedia code where one exists), which the
report and the tests use to measure language ID. Columns: ``text``, ``image``, ``source``, ``gold``.

    python -m bench.worldwide_pool --out build/worldwide/pool [--multi30k-split train]
"""

from __future__ import annotations

import argparse
import gzip
import lzma
import os
import sys
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("METADATA_BUILDER_SHARED", REPO.parent / "shared" / "data"))
DUMP_LANGS = ("bn", "el", "hy", "ja", "mr", "uk", "vi")
MULTI30K_LANGS = ("en", "de", "fr", "cs")
#: Tatoeba's ISO 639-3 codes -> Wikipedia codes (those with a Wikipedia; the rest keep their code).
TATOEBA_TO_WIKI = {"rus": "ru", "ben": "bn", "bel": "be", "ukr": "uk", "fin": "fi", "fra": "fr", "hin": "hi",
                   "yid": "yi", "heb": "he", "swe": "sv", "pol": "pl", "epo": "eo", "eng": "en", "jpn": "ja",
                   "ces": "cs", "ara": "ar", "spa": "es", "deu": "de", "cmn": "zh", "yue": "zh_yue", "lzh": "zh_classical",
                   "kab": "kab", "sat": "sat", "lij": "lij", "krl": "krl", "grc": "grc"}


def need(path: Path) -> Path:
    if not path.exists():
        sys.exit(f"{path} is missing: the worldwide pool is built from ../shared/data (see its SOURCE.md files)")
    return path


def multi30k(split: str = "train", folder: Path | None = None) -> pd.DataFrame:
    """All captions of a Multi30k split, language by language, each with its image's file name."""
    folder = folder or SHARED / "multi30k"
    images = need(folder / f"{split}.images.txt").read_text(encoding="utf-8").split()
    frames = []
    for lang in MULTI30K_LANGS:
        with gzip.open(need(folder / f"{split}.{lang}.gz"), "rt", encoding="utf-8") as f:
            texts = f.read().split("\n")
        texts = texts[:len(images)]
        if len(texts) != len(images):
            sys.exit(f"{folder}/{split}.{lang}.gz: {len(texts)} lines for {len(images)} images")
        frames.append(pd.DataFrame({"text": texts, "image": images, "source": f"multi30k-{split}", "gold": lang}))
    return pd.concat(frames, ignore_index=True)


def tatoeba(path: Path | None = None) -> pd.DataFrame:
    """Every labelled Tatoeba sentence (the 12 lines labelled ``\\N`` keep an empty gold)."""
    path = path or SHARED / "tatoeba-nonascii" / "tatoeba-nonascii-CC0.csv.xz"
    rows = []
    with lzma.open(need(path), "rt", encoding="utf-8") as f:
        for line in f:
            parts = line.rstrip("\n").split("\t", 2)
            if len(parts) == 3:
                code = "" if parts[1] == "\\N" else parts[1]
                rows.append((parts[2], None, "tatoeba", TATOEBA_TO_WIKI.get(code, code)))
    return pd.DataFrame(rows, columns=["text", "image", "source", "gold"])


def wiki_captions(lang: str, dump: Path | None = None, max_pages: int | None = None) -> pd.DataFrame:
    """The captions and alt texts of one dump (``en``: the embedded sample), first ``max_pages`` pages."""
    from metadata_builder import paths
    from metadata_builder.sources.wiki.captions import extract_captions, image_namespaces, iter_pages, page_captions

    dump = dump or (paths.WIKI_SAMPLE if lang == "en" else SHARED / "wiki-truncated-dumps" / f"{lang}wiki-truncated-100k.xml.xz")
    need(Path(dump))
    if max_pages is None:
        df, _ = extract_captions(dump, progress=False)
    else:
        names, rows, pages = image_namespaces(dump), [], 0
        for page in iter_pages(dump):
            if page.ns != 0 or page.redirect is not None:
                continue
            pages += 1
            if pages > max_pages:
                break
            rows += [(text, kind, page.page_id, where) for kind, where, text in page_captions(page.text, names)]
        df = pd.DataFrame(rows, columns=["text", "kind", "page_id", "file"])
    # a caption or alt text describes its file (shared when two wikis show it); an infobox's caption and
    # alt describe the infobox's image, known here only as (page, template)
    template = df["kind"].str.startswith("template")
    image = df["file"].where(~template, f"{lang}:" + df["page_id"].astype(str) + ":" + df["file"])
    return pd.DataFrame({"text": df["text"], "image": image, "source": f"wiki-{lang}", "gold": lang})


#: OMW 1.4 language -> Wikipedia code (OMW's ``als`` is Albanian: Wikipedia ``sq``).
OMW_TO_WIKI = {"als": "sq", "arb": "ar", "bul": "bg", "cat": "ca", "cmn": "zh", "dan": "da", "ell": "el", "eus": "eu",
               "fas": "fa", "fra": "fr", "glg": "gl", "heb": "he", "hrv": "hr", "ind": "id", "isl": "is", "ita": "it",
               "lit": "lt", "nld": "nl", "nno": "nn", "nob": "no", "pol": "pl", "por": "pt", "slk": "sk", "slv": "sl",
               "swe": "sv", "zsm": "ms"}


def omw_lemmas(path: Path | None = None, only=None) -> dict[str, list[str]]:
    """Every OMW 1.4 lemma per Wikipedia code (``_`` read as a space), sorted, from the shared tarball
    (``only``: these Wikipedia codes)."""
    import tarfile

    path = path or SHARED / "omw-1.4" / "omw-1.4.tar.xz"
    lemmas: dict[str, set] = {}
    with tarfile.open(need(path)) as tar:
        for member in tar:
            name = Path(member.name).name
            if not (name.startswith("wn-data-") and name.endswith(".tab")):
                continue
            code = OMW_TO_WIKI.get(name[len("wn-data-"):-len(".tab")])
            if code is None or (only is not None and code not in only):
                continue
            for line in tar.extractfile(member).read().decode("utf-8").splitlines():
                parts = line.split("\t")
                if len(parts) == 3 and parts[1].endswith(":lemma"):
                    lemmas.setdefault(code, set()).add(parts[2].replace("_", " ").strip())
    return {code: sorted(words - {""}) for code, words in sorted(lemmas.items())}


def dump_titles(lang: str, dump: Path | None = None) -> list[str]:
    """The article titles of one truncated dump (no ``:``), in dump order."""
    from metadata_builder.sources.wiki.captions import iter_pages

    dump = dump or SHARED / "wiki-truncated-dumps" / f"{lang}wiki-truncated-100k.xml.xz"
    return [p.title for p in iter_pages(need(dump)) if p.ns == 0 and p.redirect is None and ":" not in p.title]


def stand_in_metadata(out: Path, english: list[str], dump_langs=DUMP_LANGS, omw_langs=None) -> dict[str, int]:
    """Per-language lists to test curation with until ``make worldwide-metadata`` provides the real ones:
    ``en`` = ``english`` (the v1 metadata); every other language = its dump's article titles, then its
    OMW lemmas (first occurrence wins); ``dump_langs`` / ``omw_langs`` (Wikipedia codes) restrict them.
    Writes ``out/{lang}.json`` and ``.parquet`` (id, entry, source)."""
    import json

    sources: dict[str, dict[str, str]] = {"en": dict.fromkeys(english, "v1")}
    for lang in dump_langs:
        sources.setdefault(lang, {}).update({t: "title" for t in dump_titles(lang)})
    for lang, words in omw_lemmas(only=omw_langs).items():
        bucket = sources.setdefault(lang, {})
        bucket.update({w: "wordnet" for w in words if w not in bucket})
    out.mkdir(parents=True, exist_ok=True)
    sizes = {}
    for lang, entries in sorted(sources.items()):
        (out / f"{lang}.json").write_text(json.dumps(list(entries), ensure_ascii=False), encoding="utf-8")
        pd.DataFrame({"id": range(len(entries)), "entry": list(entries), "source": list(entries.values())}) \
            .to_parquet(out / f"{lang}.parquet", index=False)
        sizes[lang] = len(entries)
    return sizes


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", help="folder receiving one parquet file per source")
    parser.add_argument("--multi30k-split", default="train", choices=("train", "val"))
    parser.add_argument("--stand-in-metadata", metavar="DIR",
                        help="instead: write stand-in per-language lists to DIR (titles + OMW; en from --english)")
    parser.add_argument("--english", default=str(REPO / "build" / "metadata.json"), help="the English list (v1)")
    args = parser.parse_args(argv)
    if args.stand_in_metadata:
        import json

        sizes = stand_in_metadata(Path(args.stand_in_metadata), json.loads(Path(need(Path(args.english))).read_text()))
        print(" ".join(f"{lang}:{n:,}" for lang, n in sizes.items()), f"-> {args.stand_in_metadata}")
        return 0
    if not args.out:
        parser.error("give --out DIR (or --stand-in-metadata DIR)")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    parts = {f"multi30k-{args.multi30k_split}": lambda: multi30k(args.multi30k_split), "tatoeba": tatoeba}
    parts.update({f"wiki-{lang}": (lambda lang=lang: wiki_captions(lang)) for lang in DUMP_LANGS + ("en",)})
    for name, make in parts.items():
        path = out / f"{name}.parquet"
        if path.exists():
            print(f"{path}: kept", flush=True)
            continue
        df = make()
        tmp = path.with_suffix(".tmp")
        df.to_parquet(tmp, index=False)
        tmp.rename(path)
        print(f"{path}: {len(df):,} texts, {df['image'].nunique():,} images", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
