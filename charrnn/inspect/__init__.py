"""`charrnn inspect`: what a trained model predicts and what its units track.

    analyses.py  scores (summary, rank buckets, worst spans), units, gate saturation, select-and-match
    find.py      hypotheses about the text, each unit's correlation with them, a probe, the control
    tables.py    the column-wise JSONL/TSV writers, and the score writer that keeps text order in bounded memory
    terminal.py  the ANSI (or plain) view
    page.py      the self-contained HTML page (static/: page.html, page.css, colour.js, page.js)
    reports.py   one function per subcommand: analysis, then the view; the click group is charrnn/cli/inspect.py

Analyses return arrays and records; the views render them and nothing else.
"""
