"""Lap-time report of one or more run directories: figures and a Markdown summary.

`fastrlap report` writes them into the run directory (`write`); `notebooks/lap_times.ipynb`
shows the same figures through the same functions. One module per step: `runs` finds run
directories, `load` reads one into a `RunData` through the readers practice writes with,
`figures` draws (one function per figure), `markdown` writes the tables and the document.
It sits above `practice` (it reads what practice wrote) and below the command line.
"""
