"""`facestream data ...`: build, inspect and describe the training corpus."""
from __future__ import annotations

import json
import sys
from pathlib import Path


def add_parser(sub) -> None:
    from .build import BuildConfig
    from .store import DEFAULT_REAL_SOURCES, REAL_SOURCES
    p = sub.add_parser("data", help="build and inspect the training corpus")
    dsub = p.add_subparsers(dest="data_command", metavar="ACTION")

    b = dsub.add_parser("build", help="synthesise + align speech and make face targets (resumable)")
    b.add_argument("-o", "--out", default="build/corpus", help="corpus directory")
    b.add_argument("--minutes-per-voice", type=float, default=8.0)
    b.add_argument("--voices", default="", help="comma-separated voice names (default: all usable)")
    b.add_argument("--engines", default="mbrola,flite,festival")
    b.add_argument("--real-sources", default=",".join(DEFAULT_REAL_SOURCES),
                   help=f"comma-separated sources of recorded human speech, among "
                        f"{','.join(REAL_SOURCES)} (default: %(default)s, the shipped model's)")
    b.add_argument("--no-real", action="store_true", help="leave out recorded human speech")
    b.add_argument("--no-asterisk", action="store_true", help="leave out the Asterisk prompts")
    b.add_argument("--min-phone-frames", type=int, default=BuildConfig.min_phone_frames,
                   help="shortest phone the CTC aligner (non-English real speech) may give, in "
                        "10 ms frames (BuildConfig.min_phone_frames; default: %(default)s, the "
                        "recipe's)")
    b.add_argument("--seed", type=int, default=0)
    b.add_argument("--workers", type=int, default=0, help="processes (default: all cores)")
    b.add_argument("--redo", default="", help="comma-separated job ids or shell patterns to "
                   "build again in an existing corpus (e.g. 'voice.mb-es*,real.asterisk-es-co')")
    b.add_argument("--redo-language", default="", help="comma-separated languages whose jobs "
                   "to build again (after a change to that language's phones, e.g. 'es')")
    b.set_defaults(func=_build)

    i = dsub.add_parser("inspect", help="plot samples to PNG and print corpus statistics")
    i.add_argument("corpus", nargs="?", default="build/corpus")
    i.add_argument("--sample", type=int, action="append", default=[], help="utterance index to plot")
    i.add_argument("--split", default=None)
    i.add_argument("--out", default="out/inspect", help="directory for the PNGs")
    i.set_defaults(func=_inspect)

    v = dsub.add_parser("voices", help="list the installed voices and whether each is usable")
    v.add_argument("--json", action="store_true")
    v.set_defaults(func=_voices)
    r = dsub.add_parser("real", help="real speakers, languages and minutes kept per voice "
                                     "(from a built corpus, or by aligning the recordings)")
    r.add_argument("corpus", nargs="?", default=None,
                   help="a built corpus to tabulate (default: align the installed recordings)")
    r.add_argument("--voices", default="", help="comma-separated real voices (default: all "
                                                 "of --real-sources)")
    r.add_argument("--real-sources", default=",".join(DEFAULT_REAL_SOURCES),
                   help=f"comma-separated sources to align, among {','.join(REAL_SOURCES)} "
                        f"(default: %(default)s, as data build)")
    r.add_argument("--json", default=None, help="also write the rows to this JSON file")
    r.set_defaults(func=_real)
    p.set_defaults(func=lambda a: (p.print_help(), 2)[1])


def _build(args) -> int:
    from .build import BuildConfig, build
    sources = _sources(args.real_sources)
    cfg = BuildConfig(minutes_per_voice=args.minutes_per_voice,
                      voices=tuple(v for v in args.voices.split(",") if v),
                      engines=tuple(e for e in args.engines.split(",") if e),
                      real_sources=() if args.no_real else tuple(
                          s for s in sources if not (args.no_asterisk and s == "asterisk")),
                      min_phone_frames=args.min_phone_frames)
    redo = [p for p in args.redo.split(",") if p]
    redo_lang = [lang for lang in args.redo_language.split(",") if lang]
    if redo or redo_lang:
        from .store import forget_jobs, init_corpus
        init_corpus(args.out, cfg.to_dict(), args.seed)  # same config and seed, or refuse
        gone = forget_jobs(args.out, redo, redo_lang)
        if not gone:
            print(f"--redo/--redo-language matched no completed job in {args.out}",
                  file=sys.stderr)
            return 2
        print(f"building again: {', '.join(gone)}", flush=True)
    rep = build(args.out, cfg, seed=args.seed, workers=args.workers)
    print(json.dumps({k: v for k, v in rep.items() if k != "reports"}, indent=1))
    from .inspect import format_stats
    from .store import Corpus
    print(format_stats(Corpus(args.out)))
    return 1 if rep["errors"] else 0


def _inspect(args) -> int:
    from .inspect import format_stats, plot_sample
    from .store import Corpus
    corpus = Corpus(args.corpus)
    view = corpus.select(split=args.split) if args.split else corpus
    print(format_stats(view))
    for i in args.sample or [0]:
        utt, tg = view[i]
        path = plot_sample(utt, tg, Path(args.out) / f"sample_{i:06d}.png")
        print(f"sample {i}: {utt.uid} ({utt.duration:.2f} s) -> {path}")
    return 0


def _voices(args) -> int:
    from . import synth
    rows = []
    for v in synth.list_voices(check=False):
        reason = synth.check_voice(v)
        rows.append({"name": v.name, "engine": v.engine, "language": v.language,
                     "recorded_language": v.recorded_language, "usable": not reason,
                     "reason": reason})
    if args.json:
        print(json.dumps(rows, indent=1))
    else:
        for r in rows:
            print(f"{r['name']:22s} {r['engine']:9s} {r['language']:4s} "
                  f"{'ok' if r['usable'] else 'unusable: ' + r['reason']}")
        print(f"{sum(r['usable'] for r in rows)} of {len(rows)} voices usable", file=sys.stderr)
    return 0


def _sources(text: str) -> tuple[str, ...]:
    """"asterisk,fillets" -> ("asterisk", "fillets"); an unknown name is a clear error."""
    from .store import REAL_SOURCES
    sources = tuple(s.strip() for s in text.split(",") if s.strip())
    unknown = [s for s in sources if s not in REAL_SOURCES]
    if unknown:
        raise SystemExit(f"--real-sources: unknown source(s) {', '.join(unknown)}; "
                         f"choose among {','.join(REAL_SOURCES)}")
    return sources


def _real(args) -> int:
    from .build import BuildConfig, real_table
    voices = tuple(v for v in args.voices.split(",") if v)
    rows = real_table(args.corpus, voices, BuildConfig(real_sources=_sources(args.real_sources)))
    print("| source | voice | speaker | language | recordings | kept | minutes kept | split |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['source']} | {r['voice']} | {r['speaker']} | {r['language']} | "
              f"{r['recordings'] if r['recordings'] is not None else '-'} | {r['kept']} | "
              f"{r['minutes']:.2f} | {r['split']} |")
    by_split: dict[str, set] = {}
    for r in rows:
        by_split.setdefault(r["split"], set()).add(r["speaker"])
    for split, speakers in sorted(by_split.items()):
        mins = sum(r["minutes"] for r in rows if r["split"] == split)
        print(f"{split}: {len(speakers)} speakers ({', '.join(sorted(speakers))}), "
              f"{mins:.1f} min", file=sys.stderr)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1) + "\n")
    return 0
