"""Per-language metadata of recipe ``metaclip-v2`` (Meta CLIP 2, released ``metadata/build_metadata.py``).

For one Wikipedia language, in this order, the first occurrence of a string winning:

1. seeds ``"0"`` ... ``"99"``;
2. WordNet: the OMW names of the languages mapped to it (:mod:`.languages`), in string order; each
   stripped, skipped when empty or all punctuation; no length limit and no cap;
3. unigrams by count (highest first), 4. bigrams with score ``> 30`` (strict) by score, 5. titles by
   views (or in-links offline): each candidate stripped, skipped when empty, longer than 256
   characters or all punctuation (:data:`.sources.wiki.tokens_v2.PUNCTUATION`), and each source
   **capped** on what it adds:

   - unigrams ``min(251,465, int(0.10 · n_unigrams))``, n = every distinct unigram of the counts;
   - bigrams ``min(100,646, n_bigrams)``, n = every distinct bigram (so it never binds below the
     candidates); a no-space language joins a bigram's words without the space;
   - titles ``min(61,235, int(0.76 · n_titles))``, n = every title of the language.

   An entry already present does not use up the cap, and the cap is checked after an entry is
   added, so a cap of 0 still admits one entry (as released).

English is not assembled: it takes the v1 metadata (``make metadata``'s ``metadata.json``).

Which bigram score is compared with 30 is not released (the step that writes it is missing). Plain
PMI cannot exceed log2 N, so ``pmi > 30`` admits nothing below 2^30 tokens; the default is the
paper's corrected score ``score_v2 = (c12 + 1)^0.7 · (PMI − PMI_p30)`` (``bigram_score="pmi"`` for the
plain one). Ties are broken by the entry string (code-point order), where the release keeps the order
of its unreleased merge.

Outputs (:func:`write_language`): ``{lang}.json``, a JSON list of strings (MetaCLIP's format, id =
index), and ``{lang}.parquet`` (``id, entry, source, score_name, score``); :func:`assemble_folder`
does every language of a folder of sources and writes ``summary.tsv``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

import numpy as np
import pandas as pd

from . import languages
from .assemble import SEED_ENTRIES, Assembled, read_table
from .errors import UserError
from .runtime import storage
from .sources.wiki.tokens_v2 import PUNCTUATION

UNIGRAM_CAP, UNIGRAM_SHARE = 251_465, 0.10
BIGRAM_CAP = 100_646
TITLE_CAP, TITLE_SHARE = 61_235, 0.76
MAX_CHARS = 256
BIGRAM_THRESHOLD = 30.0
BIGRAM_SCORES = ("score_v2", "pmi")
SUMMARY_COLUMNS = ["lang", "wordnet", "unigrams", "bigrams", "titles", "total"]


def is_pure_punctuation(entry: str) -> bool:
    """All characters in Meta CLIP 2's 58 punctuation marks (the released ``is_pure_punctuations``)."""
    return all(ch in PUNCTUATION for ch in entry)


def unigram_cap(n: int) -> int:
    return min(UNIGRAM_CAP, int(n * UNIGRAM_SHARE))


def bigram_cap(n: int) -> int:
    return min(BIGRAM_CAP, n)


def title_cap(n: int) -> int:
    return min(TITLE_CAP, int(n * TITLE_SHARE))


@dataclass
class Candidates:
    """One source's candidates in admission order, with the n its cap is computed from."""

    name: str  # wordnet | unigram | bigram | title
    entries: list[str]
    scores: list[float]
    score_name: str
    n: int  # the released cap's n (all distinct keys of the source)
    cap: int | None  # None: no cap (WordNet)
    rule: str  # for the summary

    @classmethod
    def ranked(cls, name, entries, scores, score_name, n, cap, rule) -> "Candidates":
        df = pd.DataFrame({"entry": list(entries), "score": np.asarray(scores, dtype="float64")})
        df = df.sort_values(["score", "entry"], ascending=[False, True], kind="stable")
        return cls(name, df["entry"].tolist(), df["score"].tolist(), score_name, n, cap, rule)


def wordnet_candidates(names) -> Candidates:
    entries = sorted(set(names))
    return Candidates("wordnet", entries, [np.nan] * len(entries), "", len(entries), None, "all names")


def unigram_candidates(unigrams: pd.DataFrame) -> Candidates:
    n = len(unigrams)
    cap = unigram_cap(n)
    return Candidates.ranked("unigram", unigrams["word"].fillna("").astype(str), unigrams["count"], "count", n, cap,
                             f"cap {cap:,} = min(251,465, 0.10 x {n:,})")


def bigram_candidates(bigrams: pd.DataFrame, lang: str, score: str = "score_v2") -> Candidates:
    if score not in BIGRAM_SCORES:
        raise UserError(f"unknown bigram score {score!r}; choose one of {', '.join(BIGRAM_SCORES)}")
    n = len(bigrams)
    if n and score == "score_v2" and bigrams["score_v2"].isna().all():
        raise UserError("the bigram table has no score_v2 (written with 'wiki-count --bigrams pmi30'); "
                        "count with --bigrams all, or use --bigram-score pmi")
    values = bigrams[score].astype("float64")
    keep = values > BIGRAM_THRESHOLD
    entries = bigrams.loc[keep, "w1"].fillna("").astype(str) + " " + bigrams.loc[keep, "w2"].fillna("").astype(str)
    ranked = Candidates.ranked("bigram", entries, values[keep], score, n, bigram_cap(n), "")
    if languages.is_no_space(lang):  # released: "".join(m.split(" ")), after the sort
        ranked.entries = ["".join(e.split(" ")) for e in ranked.entries]
    ranked.rule = f"{score} > 30, cap {ranked.cap:,} = min(100,646, {n:,})"
    return ranked


def title_candidates(titles: pd.DataFrame, score_name: str) -> Candidates:
    n = len(titles)
    cap = title_cap(n)
    return Candidates.ranked("title", titles["title"].fillna("").astype(str), titles[score_name], score_name, n, cap,
                             f"by {score_name}, cap {cap:,} = min(61,235, 0.76 x {n:,})")


def assemble_language(sources: list[Candidates]) -> Assembled:
    """Seeds, then each source in order under Meta CLIP 2's filters and caps (module docstring)."""
    metadata: dict[str, None] = {}
    rows = [(entry, "seed", None, np.nan) for entry in SEED_ENTRIES]
    metadata.update(dict.fromkeys(SEED_ENTRIES))
    summary = [{"source": "seed", "threshold": "–", "candidates": 100, "added": 100, "cumulative": 100}]
    dropped = {}
    for source in sources:
        added = invalid = duplicates = 0
        for entry, score in zip(source.entries, source.scores):
            entry = entry.strip()
            if not entry or is_pure_punctuation(entry) or (source.cap is not None and len(entry) > MAX_CHARS):
                invalid += 1
                continue
            if entry in metadata:
                duplicates += 1
                continue
            metadata[entry] = None
            rows.append((entry, source.name, source.score_name or None, score))
            added += 1
            if source.cap is not None and added >= source.cap:
                break
        dropped[source.name] = {"empty_long_or_punctuation": invalid, "duplicates": duplicates}
        summary.append({"source": source.name, "threshold": source.rule, "candidates": source.n,
                        "added": added, "cumulative": len(rows)})
    table = pd.DataFrame(rows, columns=["entry", "source", "score_name", "score"])
    table.insert(0, "id", np.arange(len(table), dtype=np.int32))
    return Assembled(table=table, summary=pd.DataFrame(summary), dropped=dropped)


# ------------------------------------------------------------------ reading the sources of one language


def read_wordnet(path, lang: str, omw_map: str = "metaclip-v2") -> list[str]:
    """The OMW names (``wordnet --lang`` table: lang, entry) of the OMW languages mapped to ``lang``."""
    df = read_table(path, required=["lang", "entry"])
    codes = languages.omw_codes_for(lang, omw_map)
    return df.loc[df["lang"].isin(codes), "entry"].fillna("").astype(str).tolist()


def read_titles(lang: str, pageviews=None, titles=None, min_inlinks: int = 1) -> tuple[pd.DataFrame, str]:
    """The language's titles: pageviews (``pageviews --all-languages``: lang, title, views) if given,
    else the dump's articles by in-links (``titles.parquet``; ``:`` titles and those with fewer than
    ``min_inlinks`` in-links left out, as pageviews never list ``:`` titles or unviewed ones)."""
    if pageviews is not None:
        df = read_table(pageviews, required=["lang", "title", "views"], numeric=("views",))
        return df[df["lang"] == lang][["title", "views"]], "views"
    df = read_table(titles, required=["title", "inlinks"], numeric=("inlinks",))
    df = df[(df["inlinks"] >= min_inlinks) & ~df["title"].fillna("").str.contains(":", regex=False)]
    return df[["title", "inlinks"]], "inlinks"


def language_sources(lang: str, *, wordnet=None, unigrams=None, bigrams=None, titles=None, pageviews=None,
                     omw_map: str = "metaclip-v2", bigram_score: str = "score_v2",
                     min_inlinks: int = 1) -> list[Candidates]:
    """The candidates of one language from the tables given (each optional)."""
    sources = []
    if wordnet is not None:
        sources.append(wordnet_candidates(read_wordnet(wordnet, lang, omw_map)))
    if unigrams is not None:
        sources.append(unigram_candidates(read_table(unigrams, required=["word", "count"], numeric=("count",))))
    if bigrams is not None:
        table = read_table(bigrams, required=["w1", "w2", bigram_score], numeric=(bigram_score,))
        sources.append(bigram_candidates(table, lang, bigram_score))
    if titles is not None or pageviews is not None:
        df, score = read_titles(lang, pageviews, titles, min_inlinks)
        sources.append(title_candidates(df, score))
    return sources


def write_language(result: Assembled, out_json) -> tuple[str, str]:
    """``{lang}.json`` (a JSON list; id = index) and ``{lang}.parquet`` beside it, atomically."""
    out_json = storage.canonical(out_json)
    out_parquet = os.path.splitext(out_json)[0] + ".parquet"
    storage.write_text(out_json, json.dumps(result.entries, ensure_ascii=False, indent=0) + "\n")
    storage.write_parquet(result.table, out_parquet)
    return out_json, out_parquet


def summary_row(lang: str, result: Assembled) -> dict:
    """Entries added per source (the per-language table ``make worldwide-metadata`` prints)."""
    added = dict(zip(result.summary["source"], result.summary["added"]))
    return {"lang": lang, "wordnet": int(added.get("wordnet", 0)), "unigrams": int(added.get("unigram", 0)),
            "bigrams": int(added.get("bigram", 0)), "titles": int(added.get("title", 0)), "total": len(result.table)}


# ------------------------------------------------------------------ every language of a folder


def _english(path) -> Assembled:
    """The v1 metadata as English's per-language list (its parquet gives the sources, when beside it)."""
    entries = json.loads(storage.read_text(path))
    if not isinstance(entries, list) or not all(isinstance(e, str) for e in entries):
        raise UserError(f"{path}: not a JSON list of strings (the v1 metadata.json of 'assemble')")
    parquet = os.path.splitext(str(path))[0] + ".parquet"
    if storage.is_file(parquet):
        table = pd.read_parquet(parquet)
        if table["entry"].tolist() != entries:
            raise UserError(f"{parquet} does not belong to {path} (other entries); rebuild both with 'assemble'")
    else:
        table = pd.DataFrame({"id": np.arange(len(entries), dtype=np.int32), "entry": entries, "source": None,
                              "score_name": None, "score": np.nan})
    counts = table["source"].value_counts().to_dict()
    summary = pd.DataFrame([{"source": s, "threshold": "metaclip-v1", "candidates": counts.get(s, 0),
                             "added": counts.get(s, 0), "cumulative": 0} for s in ("seed", "wordnet", "unigram",
                                                                                   "bigram", "title")])
    summary["cumulative"] = summary["added"].cumsum()
    return Assembled(table=table, summary=summary)


def discover(sources_dir, omw_map: str = "metaclip-v2") -> dict[str, dict]:
    """Languages of a folder of sources: ``wiki/<lang>/`` (wiki-count outputs), ``wordnet.parquet``
    (OMW names: every mapped language), ``pageviews.parquet`` (titles); lang -> its inputs."""
    root = str(sources_dir)
    found: dict[str, dict] = {}
    wiki = os.path.join(root, "wiki")
    if os.path.isdir(wiki):
        for name in sorted(os.listdir(wiki)):
            folder = os.path.join(wiki, name)
            if not os.path.isfile(os.path.join(folder, "unigrams.parquet")):
                continue
            lang = name
            stats = os.path.join(folder, "stats.json")
            if os.path.isfile(stats):
                lang = json.loads(open(stats, encoding="utf-8").read()).get("lang") or name
            found.setdefault(lang, {})["wiki"] = folder
    wordnet = os.path.join(root, "wordnet.parquet")
    if os.path.isfile(wordnet):
        present = set(read_table(wordnet, required=["lang", "entry"])["lang"].unique())
        for omw, lang in languages.omw_to_wiki(omw_map).items():
            if omw in present:
                found.setdefault(lang, {})
        for entry in found.values():
            entry["wordnet"] = wordnet
    pageviews = os.path.join(root, "pageviews.parquet")
    if os.path.isfile(pageviews):
        for entry in found.values():
            entry["pageviews"] = pageviews
    return found


def assemble_folder(sources_dir, out_dir, *, english=None, omw_map: str = "metaclip-v2",
                    bigram_score: str = "score_v2", min_inlinks: int = 1, progress: bool = False) -> pd.DataFrame:
    """Assemble every language found in ``sources_dir`` into ``out_dir/{lang}.json|.parquet`` and
    ``out_dir/summary.tsv`` (lang, wordnet, unigrams, bigrams, titles, total); return the summary.

    ``english``: the v1 ``metadata.json`` that becomes ``en.json`` (English is never assembled by the
    v2 rule, as in Meta CLIP 2).
    """
    from tqdm.auto import tqdm

    found = discover(sources_dir, omw_map)
    found.pop("en", None)
    if english is None and not found:
        raise UserError(f"{sources_dir}: no per-language sources (wiki/<lang>/unigrams.parquet, wordnet.parquet) "
                        "and no --english metadata; build them with 'wiki-count' and 'wordnet --lang all'")
    rows, details = [], {}
    if english is not None:
        result = _english(english)
        write_language(result, storage.under(out_dir, "en.json"))
        rows.append(summary_row("en", result))
        details["en"] = result.summary.to_dict("records")
    for lang in tqdm(sorted(found), desc="languages", disable=not progress):
        inputs = found[lang]
        wiki = inputs.get("wiki")
        sources = language_sources(
            lang, wordnet=inputs.get("wordnet"),
            unigrams=os.path.join(wiki, "unigrams.parquet") if wiki else None,
            bigrams=os.path.join(wiki, "bigrams.parquet") if wiki else None,
            titles=os.path.join(wiki, "titles.parquet") if wiki and "pageviews" not in inputs else None,
            pageviews=inputs.get("pageviews"), omw_map=omw_map, bigram_score=bigram_score, min_inlinks=min_inlinks)
        result = assemble_language(sources)
        write_language(result, storage.under(out_dir, f"{lang}.json"))
        rows.append(summary_row(lang, result))
        details[lang] = result.summary.to_dict("records")
    summary = pd.DataFrame(rows, columns=SUMMARY_COLUMNS).sort_values("lang", kind="stable").reset_index(drop=True)
    storage.write_text(storage.under(out_dir, "summary.tsv"), summary.to_csv(sep="\t", index=False))
    storage.write_text(storage.under(out_dir, "summary.json"),
                       json.dumps({"recipe": "metaclip-v2", "omw_map": omw_map, "bigram_score": bigram_score,
                                   "languages": details}, indent=1, ensure_ascii=False, default=str) + "\n")
    return summary


def format_languages(summary: pd.DataFrame) -> str:
    """The per-language table as aligned text (entries added per source; total includes the 100 seeds)."""
    header = f"{'language':<10} {'WordNet':>9} {'unigrams':>9} {'bigrams':>9} {'titles':>9} {'total':>9}"
    lines = [header, "-" * len(header)]
    for row in summary.itertuples():
        lines.append(f"{row.lang:<10} {row.wordnet:>9,} {row.unigrams:>9,} {row.bigrams:>9,} {row.titles:>9,} "
                     f"{row.total:>9,}")
    return "\n".join(lines)
