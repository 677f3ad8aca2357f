#!/usr/bin/env bash
# Download the hourly Wikipedia pageview files of the title source (recipe metaclip-v1):
# 24 files pageviews-YYYYMMDD-HH0000.gz for every day of a day list (default data/pageview_days.txt,
# the 26 days MetaCLIP's code reads), ~624 files, ~30-60 GB. Needs the internet; never run by tests.
#
#   scripts/download_pageviews.sh [DAYS_FILE] [OUT_DIR]      (make pageviews-download does it)
#
# Resumable: a finished file is skipped, a partial one is fetched again (written to .part, then
# renamed). Then: metadata-builder pageviews OUT_DIR --out build/views.parquet
set -euo pipefail

DAYS_FILE=${1:-data/pageview_days.txt}
OUT_DIR=${2:-.cache/pageviews}
BASE_URL=${PAGEVIEWS_BASE_URL:-https://dumps.wikimedia.org/other/pageviews}

if [[ ! -f "$DAYS_FILE" ]]; then
    echo "download_pageviews: $DAYS_FILE does not exist; give a day list (one YYYYMMDD per line)" >&2
    exit 2
fi
mkdir -p "$OUT_DIR"

failed=0
while read -r line; do
    day=${line%%#*}
    day=${day//[[:space:]]/}
    [[ -z "$day" ]] && continue
    if [[ ! "$day" =~ ^[0-9]{8}$ ]]; then
        echo "download_pageviews: $DAYS_FILE: '$day' is not a day as YYYYMMDD" >&2
        exit 2
    fi
    for hour in $(seq -w 0 23); do
        name="pageviews-${day}-${hour}0000.gz"
        target="$OUT_DIR/$name"
        [[ -s "$target" ]] && continue
        url="$BASE_URL/${day:0:4}/${day:0:4}-${day:4:2}/$name"
        echo "fetch $url"
        if curl --fail --location --silent --show-error --retry 5 --retry-delay 10 \
                --user-agent "metadata-builder pageviews download" -o "$target.part" "$url" \
            && gzip -t "$target.part"; then
            mv "$target.part" "$target"
        else
            echo "download_pageviews: failed: $url" >&2
            rm -f "$target.part"
            failed=$((failed + 1))
        fi
    done
done < "$DAYS_FILE"

if (( failed > 0 )); then
    echo "download_pageviews: $failed file(s) failed; rerun to fetch only the missing ones" >&2
    exit 1
fi
echo "all files in $OUT_DIR; next: metadata-builder pageviews $OUT_DIR --out build/views.parquet"
