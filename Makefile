# The two commands a user runs: `make metadata` and `make test`. Each does its own set-up first.
SHELL := /bin/bash
VENV  ?= .venv
PY    := $(VENV)/bin/python
MB    := $(VENV)/bin/metadata-builder
BUILD ?= build
export NLTK_DATA := $(CURDIR)/.cache/nltk_data$(if $(NLTK_DATA),:$(NLTK_DATA))

.PHONY: help setup metadata worldwide-metadata test clean pageviews-download pageviews-download-worldwide bench bench-wiki bench-wiki-scale bench-ray bench-balance bench-match bench-worldwide report
.PHONY: worldwide worldwide-curate bench-worldwide-curation

help:
	@echo "make metadata   build metadata.json on the embedded default (WordNet 3.0 + Wikipedia sample)"
	@echo "make worldwide-metadata  per-language metadata (Meta CLIP 2) of ../shared's dumps + OMW -> build/worldwide"
	@echo "make test       run the test suite"
	@echo "make report     match + balance + report on the embedded captions (or POOL=... TEXT_COLUMN=...)"
	@echo "make worldwide  Meta CLIP 2 curation of a real multilingual pool (needs ../shared/data)"
	@echo "make clean      remove build outputs (keeps .venv and .cache)"

setup:
	@bash scripts/setup.sh

# The embedded English sample (provisioned by setup); read lazily, after setup ran.
WIKI_SAMPLE = $(shell $(PY) -c 'from metadata_builder import paths; print(paths.WIKI_SAMPLE)')

# No pageviews offline: titles are ranked by in-links. Recipe thresholds stay the defaults, so on the
# small sample few unigrams reach count >= 100 and no bigram reaches PMI >= 30 (N / 2^30 < 1).
metadata: setup
	$(MB) wordnet --out $(BUILD)/wordnet.parquet
	$(MB) wiki-count "$(WIKI_SAMPLE)" --out $(BUILD)/wiki
	$(MB) assemble --wordnet $(BUILD)/wordnet.parquet --unigrams $(BUILD)/wiki/unigrams.parquet \
	    --bigrams $(BUILD)/wiki/bigrams.parquet --titles $(BUILD)/wiki/titles.parquet --title-rank inlinks \
	    --out $(BUILD)/metadata.json
	@echo "sources: $(BUILD)/wordnet.parquet $(BUILD)/wiki/{unigrams,bigrams,titles}.parquet $(BUILD)/wiki/stats.json"

# Meta CLIP 2 (recipe metaclip-v2): one metadata list per language in $(WW)/metadata_per_lang/{lang}.json
# (+ .parquet, summary.tsv), from the real truncated dumps and the OMW files of ../shared/data (SHARED=...
# to point elsewhere); English is `make metadata`'s list. Titles are ranked by in-links (no pageviews offline).
SHARED ?= ../shared/data
WW     ?= $(BUILD)/worldwide
WW_DUMPS = $(sort $(wildcard $(SHARED)/wiki-truncated-dumps/*wiki-*.xml.xz))
worldwide-metadata:
	@if [ -z "$(WW_DUMPS)" ] || [ ! -f "$(SHARED)/omw-1.4/omw-1.4.tar.xz" ]; then \
	  echo "make worldwide-metadata needs $(SHARED)/wiki-truncated-dumps/*wiki-*.xml.xz and $(SHARED)/omw-1.4/omw-1.4.tar.xz (the shared test data beside the checkout; SHARED=DIR to use another folder)"; exit 2; fi
	@EXTRAS=worldwide bash scripts/setup.sh --omw "$(SHARED)/omw-1.4/omw-1.4.tar.xz"
	@$(MAKE) --no-print-directory metadata
	$(MB) wordnet --lang all --out $(WW)/wordnet.parquet --no-progress
	@for dump in $(WW_DUMPS); do lang=$$(basename "$$dump"); lang=$${lang%%wiki-*}; \
	  echo "$(MB) wiki-count $$dump --out $(WW)/wiki/$$lang"; \
	  $(MB) wiki-count "$$dump" --out "$(WW)/wiki/$$lang" --no-progress || exit 1; done
	$(MB) assemble-worldwide $(WW) --english $(BUILD)/metadata.json --out $(WW)/metadata_per_lang --no-progress

# Analysis report: match + balance (6% tail share) + report.html on POOL (default: image captions and
# alt texts of the embedded Wikipedia sample); builds the metadata first when it is missing. Each pool
# gets its own folder build/report-NAME/{match,balanced,report}, so reruns resume.
POOL        ?=
TEXT_COLUMN ?=
REPORT_DIR  ?= $(BUILD)/report-$(if $(POOL),$(basename $(notdir $(firstword $(POOL)))),captions)
report: setup
	@test -f $(BUILD)/metadata.parquet || $(MAKE) --no-print-directory metadata
	$(if $(POOL),,$(MB) wiki-captions --out $(BUILD)/captions.parquet --no-progress)
	$(MB) match $(or $(POOL),$(BUILD)/captions.parquet) --metadata $(BUILD)/metadata.json $(if $(TEXT_COLUMN),--text-column $(TEXT_COLUMN)) --out $(REPORT_DIR)/match
	$(MB) balance $(REPORT_DIR)/match --tail-share 0.06 --out $(REPORT_DIR)/balanced
	$(MB) report $(REPORT_DIR)/match --metadata $(BUILD)/metadata.parquet --balanced $(REPORT_DIR)/balanced --out $(REPORT_DIR)/report

# The test files run in parallel, one file per process (-n auto: one process per core); PYTEST_ARGS= runs them in one.
PYTEST_ARGS ?= -n auto --dist loadfile
test:
	@EXTRAS=dev,ray,worldwide bash scripts/setup.sh --wordnet31
	$(PY) -m pytest -q $(PYTEST_ARGS) tests

# Needs the internet: the recipe's 26 days x 24 hourly pageview files (data/pageview_days.txt), resumable.
pageviews-download:
	bash scripts/download_pageviews.sh data/pageview_days.txt .cache/pageviews

# Needs the internet: Meta CLIP 2's 37 days x 24 hourly files (data/pageview_days_worldwide.txt), for
# 'pageviews --all-languages'.
pageviews-download-worldwide:
	bash scripts/download_pageviews.sh data/pageview_days_worldwide.txt .cache/pageviews

# Benchmarks: each writes a markdown table to bench/results/<name>.md (see bench/README.md).
bench: bench-wiki bench-wiki-scale bench-ray bench-balance bench-match bench-worldwide

# ~5 min: per-language counting (ja, vi samples of ../shared) vs wikiextractor + Meta CLIP 2's
# tokeniser (in its own venv: wikiextractor is AGPL), paired runs, CPU time and peak memory.
BENCH_WORLDWIDE_ARGS ?=
bench-worldwide:
	@EXTRAS=bench,worldwide bash scripts/setup.sh
	$(PY) -m bench.bench_worldwide $(BENCH_WORLDWIDE_ARGS)

# ~8 min: wiki-count vs wikiextractor + plain count on real text (every real page once) and on a 1 GiB repeated-sample dump (cached in .cache/bench).
BENCH_WIKI_ARGS ?=
bench-wiki:
	@EXTRAS=bench bash scripts/setup.sh
	$(PY) -m bench.bench_wiki $(BENCH_WIKI_ARGS)

# ~5 min: wiki-count's memory and out-of-core merge on a 1 GiB synthetic dump with a growing vocabulary.
BENCH_WIKI_SCALE_ARGS ?=
bench-wiki-scale:
	@EXTRAS=bench bash scripts/setup.sh
	$(PY) -m bench.bench_wiki_scale $(BENCH_WIKI_SCALE_ARGS)

# ~1 min: the Ray engine vs the local engine (task overhead, shared-object travel, match of a real pool).
BENCH_RAY_ARGS ?=
bench-ray:
	@EXTRAS=dev,ray bash scripts/setup.sh
	@test -f $(BUILD)/metadata.json || $(MAKE) --no-print-directory metadata
	$(PY) -m bench.bench_ray $(BENCH_RAY_ARGS)

# ~3 min: balance's 50-t sweep, draws and full run on a real pool's match replicated to 10M texts.
BENCH_BALANCE_ARGS ?=
bench-balance:
	@EXTRAS=bench bash scripts/setup.sh
	@test -f $(BUILD)/metadata.json || $(MAKE) --no-print-directory metadata
	$(PY) -m bench.bench_balance $(BENCH_BALANCE_ARGS)

# ~5 min: match vs the published matcher (7 replace + pyahocorasick iter + set), 1M LAION texts x 421k entries.
BENCH_MATCH_ARGS ?=
bench-match:
	@EXTRAS=dev,bench bash scripts/setup.sh
	$(PY) -m bench.bench_match $(BENCH_MATCH_ARGS)

# ~10 min: language ID accuracy/speed (fastText lid.176 vs pycld2, py3langid), per-language matching vs the
# released approach (A B A B, CPU time), memory with every language loaded. Part of bench-worldwide.
BENCH_WORLDWIDE_CURATION_ARGS ?=
bench-worldwide: bench-worldwide-curation
bench-worldwide-curation:
	@EXTRAS=bench,worldwide bash scripts/setup.sh
	@test -d $(WW)/metadata_per_lang || $(MAKE) --no-print-directory worldwide-metadata
	METADATA_BUILDER_SHARED=$(abspath $(SHARED)) $(PY) -m bench.bench_worldwide_curation $(BENCH_WORLDWIDE_CURATION_ARGS)

# Meta CLIP 2 ("worldwide") curation, end to end on real multilingual data from ../shared/data: the
# per-language metadata (make worldwide-metadata), then the pool (Multi30k train captions in en/de/fr/cs,
# the captions of the eight Wikipedia dumps, the Tatoeba sentences), language ID, per-language matching,
# per-language t from English's 6% tail share, one text per image, the report. Each step resumes.
METADATA_PER_LANG ?= $(WW)/metadata_per_lang
worldwide: worldwide-metadata
	@$(MAKE) --no-print-directory worldwide-curate

# The curation alone, on the per-language lists in METADATA_PER_LANG ({lang}.json, MetaCLIP's format).
worldwide-curate:
	@EXTRAS=worldwide bash scripts/setup.sh
	@test -d $(METADATA_PER_LANG) || { echo "$(METADATA_PER_LANG): no per-language metadata; run 'make worldwide-metadata' (or give METADATA_PER_LANG=DIR)"; exit 2; }
	METADATA_BUILDER_SHARED=$(abspath $(SHARED)) $(PY) -m bench.worldwide_pool --out $(WW)/pool
	$(MB) match $(WW)/pool --metadata $(METADATA_PER_LANG) --lang-id fasttext-lid176 --id-column image --out $(WW)/match
	$(MB) balance $(WW)/match --tail-share 0.06 --per-image --out $(WW)/curated
	$(MB) report $(WW)/match --metadata $(METADATA_PER_LANG) --balanced $(WW)/curated --out $(WW)/report

clean:
	rm -rf $(BUILD)
