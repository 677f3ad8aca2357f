# The two commands a user runs: `make metadata` and `make test`. Each does its own set-up first.
SHELL := /bin/bash
VENV  ?= .venv
PY    := $(VENV)/bin/python
MB    := $(VENV)/bin/metadata-builder
BUILD ?= build
export NLTK_DATA := $(CURDIR)/.cache/nltk_data$(if $(NLTK_DATA),:$(NLTK_DATA))

.PHONY: help setup metadata test clean pageviews-download

help:
	@echo "make metadata   build metadata.json on the embedded default (WordNet 3.0 + Wikipedia sample)"
	@echo "make test       run the test suite"
	@echo "make clean      remove build outputs (keeps .venv and .cache)"

setup:
	@bash scripts/setup.sh

metadata: setup
	$(MB) wordnet --out $(BUILD)/wordnet.parquet
	$(MB) assemble --wordnet $(BUILD)/wordnet.parquet --out $(BUILD)/metadata.json

test:
	@EXTRAS=dev,ray bash scripts/setup.sh --wordnet31
	$(PY) -m pytest -q tests

# Needs the internet: the recipe's 26 days x 24 hourly pageview files (data/pageview_days.txt), resumable.
pageviews-download:
	bash scripts/download_pageviews.sh data/pageview_days.txt .cache/pageviews

clean:
	rm -rf $(BUILD)
