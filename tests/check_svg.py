#!/usr/bin/env python3
"""check_svg.py FILE MIN_RECTS [TEXT...]: FILE is a well-formed SVG picture with at least
MIN_RECTS boxes, and every TEXT is the text of one of its <text> elements or part of one."""
import sys
import xml.etree.ElementTree as ElementTree

NS = "{http://www.w3.org/2000/svg}"

def main():
    if len(sys.argv) < 3:
        sys.exit("usage: check_svg.py FILE MIN_RECTS [TEXT...]")
    path, min_rects, wanted = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
    try:
        root = ElementTree.parse(path).getroot()
    except (OSError, ElementTree.ParseError) as error:
        sys.exit(f"{path}: not a well-formed SVG: {error}")
    if root.tag != NS + "svg":
        sys.exit(f"{path}: the root element is {root.tag}, not svg")
    rects = len(root.findall(f".//{NS}rect"))
    if rects < min_rects:
        sys.exit(f"{path}: {rects} boxes, fewer than {min_rects}")
    texts = [element.text or "" for element in root.iter(NS + "text")]
    for text in wanted:
        if not any(text in t for t in texts):
            sys.exit(f"{path}: no text contains {text!r}")
    print(f"{path}: {rects} boxes, {len(texts)} texts")

main()
