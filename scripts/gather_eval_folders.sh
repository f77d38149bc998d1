#!/usr/bin/env bash
# Lays out the two public folders that eval/papers_queries.jsonl and eval/nodedocs_queries.jsonl
# ask about, under var/folders/: 97 research papers (every second PDF of papers-we-love at
# commit 47567e0, by sorted file name) and the Node.js 18 API docs as Debian ships them
# (nodejs-doc 18.20.4: 64 HTML pages and 6 other files; all.html, which repeats every page,
# and the gzipped copies left out).
# Needs git and network access to GitHub and Debian's mirrors; run from the repository root.
set -euo pipefail
out=var/folders
mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

git clone -q --bare "${PAPERS_REPO:-https://github.com/papers-we-love/papers-we-love}" "$work/pwl"
commit=47567e0154e38b4a4cf3eb9e30296221e940522f
mkdir -p "$out/papers"
git -C "$work/pwl" ls-tree -r --name-only "$commit" | grep '\.pdf$' | while read -r f; do
    # A few PDFs are empty files in the repository; one name git prints quoted is not found.
    size=$(git -C "$work/pwl" cat-file -s "$commit:$f" 2>/dev/null || echo 0)
    if [ "$size" -gt 0 ]; then echo "$f"; fi
done | LC_ALL=C sort -t_ > "$work/all"
while read -r f; do echo "$f" | tr '/' '_'; done < "$work/all" | LC_ALL=C sort \
    | awk 'NR % 2 == 1' > "$work/chosen"
while read -r f; do
    name=$(echo "$f" | tr '/' '_')
    if grep -qxF "$name" "$work/chosen"; then
        git -C "$work/pwl" show "$commit:$f" > "$out/papers/$name"
    fi
done < "$work/all"

(cd "$work" && apt-get download nodejs-doc=18.20.4+dfsg-1~deb12u3 >/dev/null)
dpkg-deb -x "$work"/nodejs-doc_*.deb "$work/node"
mkdir -p "$out/nodedocs"
find "$work/node/usr/share/doc/nodejs/api" -maxdepth 1 -type f ! -name '*.gz' ! -name all.html \
    -exec cp {} "$out/nodedocs/" \;
echo "papers: $(ls "$out/papers" | wc -l) PDFs, nodedocs: $(ls "$out/nodedocs" | wc -l) files in $out"
