"""`python -m facestream.training.corpus.ctc_align train|eval|english|asterisk`."""
import sys

from . import _main

_main(sys.argv[1:])
