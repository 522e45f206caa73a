"""Fish Fillets NG's dubbed dialogue as real speech: parsing, speakers, alignment, split."""
import pytest

from facestream.training.corpus import asterisk, fillets, store
from facestream.training.corpus.build import BuildConfig

LUA = '''
dialogLoad("script/"..codename.."/")

dialogId("let-m-divna", "font_small", "What kind of strange ship is that?")
dialogStr("Co je to za divnou lo\u010f?")

dialogId("bar-x-gr0", "", "")
dialogStr("")

dialogId("let-v-rika", "font_big", "He said \\"no\\".")
dialogStr("\\"Ne,\\" \u0159ekl.\\nA \u0161el.")

dialogId("vit-hs-klid1", "font_statue", "Citizens, please remain calm.")
'''


def test_parse_dialogs_takes_translation_or_english_and_drops_sound_effects():
    cs = fillets.parse_dialogs(LUA)
    assert cs == [("let-m-divna", "small", "Co je to za divnou lo\u010f?"),
                  ("let-v-rika", "big", "\"Ne,\" \u0159ekl. A \u0161el.")]
    en = fillets.parse_dialogs(LUA, english=True)
    assert [e[0] for e in en] == ["let-m-divna", "let-v-rika", "vit-hs-klid1"]
    assert en[2] == ("vit-hs-klid1", "statue", "Citizens, please remain calm.")


def test_lines_are_found_by_level_and_id_with_their_character_as_speaker(tmp_path):
    (tmp_path / "script" / "airplane").mkdir(parents=True)
    (tmp_path / "script" / "airplane" / "dialogs_cs.lua").write_text(LUA, encoding="utf-8")
    (tmp_path / "sound" / "airplane" / "cs").mkdir(parents=True)
    for ident in ("let-m-divna", "bar-x-gr0"):  # let-v-rika has no recording: not listed
        (tmp_path / "sound" / "airplane" / "cs" / f"{ident}.ogg").write_bytes(b"")
    prompts = fillets.list_prompts(voice="fillets-cs", root=tmp_path)
    assert [(p.id, p.speaker, p.language, p.source) for p in prompts] == \
        [("airplane/let-m-divna", "fillets-cs-small", "cs", "fillets")]
    with pytest.raises(ValueError, match="unknown Fish Fillets voice"):
        fillets.list_prompts(voice="fillets-de", root=tmp_path)


def test_fillets_is_opt_in_and_every_fillets_speaker_trains():
    """The default build is the shipped model's recipe (no Fish Fillets: it did not help
    unseen real speakers, docs/eval/fillets_experiment.md); asked for, it trains whole."""
    assert "fillets" not in BuildConfig().real_sources
    assert "fillets" in store.REAL_SOURCES and set(store.DEFAULT_REAL_SOURCES) < set(store.REAL_SOURCES)
    cfg = BuildConfig(real_sources=store.REAL_SOURCES)
    for speaker in ("fillets-cs-small", "fillets-nl-big", "fillets-cs-parrot"):
        assert store.assign_real_split(speaker, cfg.test_real_speakers,
                                       cfg.val_real_speakers) == "train"


def _installed(voice):
    prompts = fillets.list_prompts(voice=voice)
    if not prompts:
        pytest.skip(f"{voice}: {', '.join(fillets.PACKAGES)} not installed (make data-deps)")
    return prompts


def test_installed_dubs_have_many_characters():
    cs = _installed("fillets-cs")
    speakers = {p.speaker for p in cs}
    assert {"fillets-cs-small", "fillets-cs-big"} <= speakers and len(speakers) >= 10
    assert len(cs) > 1000 and all(p.path.exists() and p.text for p in cs)
    audio, _ = asterisk.load_prompt(cs[0])
    assert audio.ndim == 1 and audio.size > 8000


def test_dubbed_lines_pass_the_confidence_test_and_keep_their_speakers():
    """Czech lines through the CTC aligner's rank test: a line's subtitle must beat the other
    lines' subtitles on its audio; lines with a wrong transcript must fail it."""
    pytest.importorskip("torch")
    from real_speech_helpers import check_rank_test
    check_rank_test(_installed("fillets-cs")[:24], "fillets")


def test_real_sources_option_parses_and_rejects_unknown_names():
    from facestream.training.corpus import cli
    assert cli._sources("asterisk, fillets") == ("asterisk", "fillets")
    with pytest.raises(SystemExit, match="unknown source.*gcompris.*choose among"):
        cli._sources("asterisk,gcompris")
    with pytest.raises(ValueError, match="real_sources"):
        BuildConfig(real_sources=("gcompris",))
