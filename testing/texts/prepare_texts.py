#!/usr/bin/env python3
"""Writes the project's calibration and evaluation texts.

Source: the World English Bible (public domain; Debian package
sword-text-web, module engWEB2015eb), read with `diatheke` from the Debian
package of that name. Narrative books only, as plain paragraphs: Strong's
number markup, verse references and notes are removed.

  calibration.txt  Genesis, Exodus, Joshua, Judges, 1 Samuel (for training
                   codebooks)
  evaluation.txt   Ruth, Esther, Jonah, Mark, Acts (for measuring)

Usage: prepare_texts.py OUTPUT_FOLDER
"""

import html
import re
import subprocess
import sys

MODULE = "engWEB2015eb"
SPLITS = {
    "calibration.txt": ["Genesis", "Exodus", "Joshua", "Judges", "I Samuel"],
    "evaluation.txt": ["Ruth", "Esther", "Jonah", "Mark", "Acts"],
}
VERSE = re.compile(r"^[1-4I]*\s*[A-Za-z ]+ \d+:\d+: ?(.*)$")
NOTE = re.compile(r"<note\b.*?</note>", re.S)
PARAGRAPH_END = re.compile(r'<div eID="[^"]*" type="x-p"/>')
TAG = re.compile(r"<[^>]+>")


def book_text(book):
    out = subprocess.run(
        ["diatheke", "-b", MODULE, "-f", "plaintext", "-k", book],
        check=True, capture_output=True, text=True).stdout
    paragraphs, current = [], []
    for line in out.splitlines():
        match = VERSE.match(line)
        if not match:
            continue  # the module name line and blank lines
        verse = NOTE.sub("", match.group(1))
        ends_paragraph = PARAGRAPH_END.search(verse) is not None
        verse = html.unescape(TAG.sub("", verse))
        verse = re.sub(r"\s+", " ", verse).strip()
        if verse:
            current.append(verse)
        if ends_paragraph and current:
            paragraphs.append(" ".join(current))
            current = []
    if current:
        paragraphs.append(" ".join(current))
    if not paragraphs:
        raise SystemExit(f"diatheke returned no text for {book}")
    return "\n\n".join(paragraphs)


def main():
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    for name, books in SPLITS.items():
        text = "\n\n".join(book_text(book) for book in books) + "\n"
        with open(f"{sys.argv[1]}/{name}", "w", encoding="utf-8") as f:
            f.write(text)
        print(f"{name}: {len(text)} characters from {', '.join(books)}")


if __name__ == "__main__":
    main()
