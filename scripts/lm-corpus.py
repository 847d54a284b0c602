#!/usr/bin/env python3
"""An English prose corpus for `mnemo pretrain-lm` that ships offline: the Python 3.11
documentation from Debian's python3.11-doc package (the HTML under /usr/share/doc/python3.11/html,
PSF License), turned into plain text.

    scripts/lm-corpus.py OUT.txt [--source DIR]

Only the prose is kept: the text of paragraphs, list items, definitions, table cells and headings
inside each page's body. Code (pre blocks and highlighted listings), navigation, the indexes and
the search page are dropped, and whitespace is collapsed. Each page becomes one document;
documents are separated by a blank line, which is what pretrain-lm splits documents on, and the
paragraphs of a page are separated by single newlines. Pages are taken in sorted path order, so
the output is the same on every machine with the same package version (it prints that version).
Needs only the Python standard library; install the package with
`apt-get install python3.11-doc`.
"""
import argparse
import html.parser
import os
import re
import subprocess
import sys

SOURCE = "/usr/share/doc/python3.11/html"
PACKAGE = "python3.11-doc"
BLOCKS = {"p", "li", "dt", "dd", "h1", "h2", "h3", "h4", "h5", "h6", "td", "th", "caption", "blockquote"}
SKIPPED = {"pre", "script", "style", "nav"}
SKIPPED_PAGES = re.compile(r"(^|/)(genindex[^/]*|py-modindex|search|modindex|download)\.html$")


class ProseParser(html.parser.HTMLParser):
    """Collects the prose paragraphs of a Sphinx page's body (div role="main" or class="body")."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.paragraphs, self.current = [], []
        self.depth = 0          # open elements
        self.body_at = None     # depth of the body div, None outside it
        self.skip_at = None     # depth of a skipped element (code, navigation), None outside one

    def flush(self):
        text = " ".join("".join(self.current).split())
        if text:
            self.paragraphs.append(text)
        self.current = []

    def handle_starttag(self, tag, attrs):
        if tag in ("br", "img", "hr", "meta", "link", "input", "wbr"):
            return
        self.depth += 1
        a = dict(attrs)
        classes = (a.get("class") or "").split()
        if self.body_at is None and tag == "div" and (a.get("role") == "main" or "body" in classes):
            self.body_at = self.depth
        elif self.body_at is not None and self.skip_at is None and (
                tag in SKIPPED or "highlight" in " ".join(classes) or "headerlink" in classes):
            self.skip_at = self.depth
        if tag in BLOCKS:
            self.flush()

    def handle_endtag(self, tag):
        if tag in ("br", "img", "hr", "meta", "link", "input", "wbr"):
            return
        if tag in BLOCKS:
            self.flush()
        if self.skip_at == self.depth:
            self.skip_at = None
        if self.body_at == self.depth:
            self.flush()
            self.body_at = None
        self.depth -= 1

    def handle_data(self, data):
        if self.body_at is not None and self.skip_at is None:
            self.current.append(data)


def page_text(path):
    p = ProseParser()
    with open(path, encoding="utf-8", errors="replace") as f:
        p.feed(f.read())
    p.close()
    p.flush()
    return "\n".join(p.paragraphs)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out")
    ap.add_argument("--source", default=SOURCE)
    a = ap.parse_args()
    if not os.path.isdir(a.source):
        print("lm-corpus: %s is missing: install it with `apt-get install %s`" % (a.source, PACKAGE), file=sys.stderr)
        return 2
    pages = sorted(os.path.relpath(os.path.join(d, f), a.source) for d, _, fs in os.walk(a.source) for f in fs
                   if f.endswith(".html") and not d.startswith(os.path.join(a.source, "_")))
    pages = [p for p in pages if not SKIPPED_PAGES.search(p)]
    docs = [t for t in (page_text(os.path.join(a.source, p)) for p in pages) if t]
    with open(a.out, "w", encoding="utf-8") as f:
        f.write("\n\n".join(docs) + "\n")
    version = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", PACKAGE], capture_output=True,
                             text=True).stdout or "unknown"
    print("lm-corpus: %s: %d documents, %.1f MB of text from %d pages of %s (Debian %s %s, PSF License)" % (
        a.out, len(docs), os.path.getsize(a.out) / 1e6, len(pages), a.source, PACKAGE, version))
    return 0


if __name__ == "__main__":
    sys.exit(main())
