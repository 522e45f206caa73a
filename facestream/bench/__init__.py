"""Benchmarks: latency, throughput, memory and peers, measured in one run (`facestream bench`).

Each measurement is a module of its own (compute, onset, mic, throughput, memory, peers,
quality; the server's and viewer's own benchmarks are called from external); `report` runs
them and judges the targets, `markdown` and `plots` present a report. Importing this package
loads nothing heavy: torch, transformers, matplotlib and sounddevice load where they are used.
"""
from .markdown import README_END, README_START, render, rewrite_readme
from .report import ITEMS, BenchOptions, judge, options, problems, run_bench

__all__ = ["ITEMS", "BenchOptions", "README_END", "README_START", "judge", "options",
           "problems", "render", "rewrite_readme", "run_bench"]
