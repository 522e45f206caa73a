"""The corpus builder end to end on a tiny scale: speech -> targets -> shards, splits, resume."""
import hashlib

import numpy as np

from facestream.training.corpus.store import Corpus, completed_jobs
from facestream.training.phonemes import BILABIALS, INVENTORY


def shard_hashes(root):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted((root / "shards").glob("*.npz"))}


def test_tiny_build_has_every_voice_and_valid_targets(tiny_corpus):
    c = Corpus(tiny_corpus)
    voices = {r["voice"] for r in c.records}
    assert voices == {"mb-us1", "mb-us2", "flite-slt"}
    for i in range(len(c)):
        utt, tg = c[i]
        assert len(tg.arkit) == utt.num_frames()
        assert tg.arkit.min() >= 0 and tg.arkit.max() <= 1
        assert np.allclose(tg.emotion.sum(1), 1, atol=1e-2)
        # every phone segment is in the inventory and the segments cover the audio
        assert abs(utt.phones[-1].end - utt.duration) < 0.011
        assert all(s.phone in {p.symbol for p in INVENTORY} for s in utt.phones)


def test_held_out_voice_is_never_in_training(tiny_corpus):
    c = Corpus(tiny_corpus)
    for r in c.records:
        if r["voice"] == "mb-us2":
            assert r["split"] == "test"
    assert {r["split"] for r in c.records if r["voice"] != "mb-us2"} <= {"train", "val"}


def test_bilabials_close_the_target_lips(tiny_corpus, head):
    from facestream import vocab
    from facestream.engine.metrics import lip_gap
    c = Corpus(tiny_corpus)
    checked = 0
    for i in range(len(c)):
        utt, tg = c[i]
        for seg in utt.phones:
            if seg.phone in BILABIALS:
                t = min(int((seg.start + seg.end) / 2 * vocab.INTERNAL_FPS), len(tg.arkit) - 1)
                pose = np.zeros(15, np.float32)
                pose[vocab.POSE_SLICES["jaw"]] = tg.jaw[t]
                v = head.forward(tg.arkit[t].astype(np.float32), pose)
                assert lip_gap(head, v) < 1e-3, (utt.uid, seg)
                checked += 1
    assert checked > 5


def test_same_seed_same_corpus_and_resume_skips_done_jobs(tiny_corpus, tmp_path):
    from corpus_fixture import build_tiny
    again = tmp_path / "again"
    build_tiny(again)
    assert shard_hashes(again) == shard_hashes(tiny_corpus)
    rep = build_tiny(again)  # everything done: a resume runs nothing
    assert rep["jobs_run"] == 0 and len(completed_jobs(again)) == 3


def test_held_out_real_speakers_never_reach_training(tmp_path):
    """A build of two small real voices, one speaker held out: checked on the built corpus."""
    import pytest

    from facestream.training.corpus import debian_voices
    from facestream.training.corpus.build import BuildConfig, build, plan_jobs
    from facestream.training.corpus.store import read_manifest, speaker_of
    pytest.importorskip("torch")
    voices = ("ktuberling-it", "ktuberling-nl")
    if not set(voices) <= set(debian_voices.installed_voices()):
        pytest.skip("ktuberling-data not installed (make data-deps)")
    with pytest.raises(ValueError, match="both"):
        BuildConfig(test_real_speakers=("kde-nl",), val_real_speakers=("kde-nl",))
    cfg = BuildConfig(engines=(), real_voices=voices, test_real_speakers=("kde-nl",),
                      val_real_speakers=())
    assert plan_jobs(cfg) == [("real", v) for v in voices]
    rep = build(tmp_path, cfg, workers=1, progress=False)
    assert not rep["errors"], rep["errors"]
    m = read_manifest(tmp_path)
    assert set(m["jobs"]) == {f"real.{v}" for v in voices}
    assert m["config"]["test_real_speakers"] == ["kde-nl"]
    c = Corpus(tmp_path)
    assert {speaker_of(r) for r in c.select(split="train").records} == {"kde-it"}
    held = c.select(split="test-real-speakers").records
    assert held and {speaker_of(r) for r in held} == {"kde-nl"}
    assert all(r["source"] == "ktuberling" and r["uid"].startswith("ktuberling/") for r in held)


def test_min_phone_frames_reaches_the_ctc_aligner(tmp_path):
    """BuildConfig.min_phone_frames: the CTC-aligned real speech of a build holds no phone
    shorter than that many 10 ms frames (KTuberling's Italian words: one word, a few phones)."""
    import pytest

    from facestream.training.corpus import debian_voices
    from facestream.training.corpus.build import BuildConfig, build
    pytest.importorskip("torch")
    if "ktuberling-it" not in debian_voices.installed_voices():
        pytest.skip("ktuberling-data not installed (make data-deps)")
    with pytest.raises(ValueError, match="min_phone_frames"):
        BuildConfig(min_phone_frames=0)
    cfg = BuildConfig(engines=(), real_voices=("ktuberling-it",), min_phone_frames=3)
    rep = build(tmp_path, cfg, workers=1, progress=False)
    assert not rep["errors"], rep["errors"]
    c = Corpus(tmp_path)
    lengths = [round((p.end - p.start) * 100) for i in range(len(c)) for p in c[i][0].phones
               if p.phone != "sil"]
    assert len(lengths) > 20 and min(lengths) >= 3
    assert all(c.records[i]["meta"]["aligner"] == "ctc" for i in range(len(c)))


def test_build_workers_get_their_share_of_the_cores():
    """A pool worker's torch runs on cores // workers threads (the initializer sets the
    thread variables before torch is imported, and torch itself when it already is): with
    torch's default of every core in every worker the aligner ran 7x slower."""
    import subprocess
    import sys
    code = ("import os; from facestream.training.corpus.build import _one_thread_each; "
            "_one_thread_each(1); import torch; "
            "print(torch.get_num_threads(), os.environ['OMP_NUM_THREADS'])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["1", "1"]
    code = ("import torch; torch.set_num_threads(3); "
            "from facestream.training.corpus.build import _one_thread_each; "
            "_one_thread_each(1); print(torch.get_num_threads())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["1"]



_BLOCKING_JOBS = '''
import os, sys, time
from facestream.training.corpus.build import run_jobs

def job(folder):
    open(os.path.join(folder, f"started.{os.getpid()}"), "w").close()
    while True:  # a job that never ends: the worker is surely mid-job when the build is stopped
        time.sleep(0.05)

if __name__ == "__main__":
    run_jobs(job, [sys.argv[1]] * 4, 2, print)
'''


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[-1][:1] != "Z"
    except FileNotFoundError:
        return False


def test_a_terminated_build_takes_its_workers_with_it(tmp_path):
    """SIGTERM to a build (what `kill` and service managers send) stops the pool's workers
    mid-job too: left running they finish their jobs into the corpus directory."""
    import os
    import signal
    import subprocess
    import sys
    import time
    script = tmp_path / "blocking_build.py"
    script.write_text(_BLOCKING_JOBS)
    proc = subprocess.Popen([sys.executable, str(script), str(tmp_path)])
    pids = []
    try:
        deadline = time.monotonic() + 120
        while len(pids) < 2 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.1)
            pids = [int(p.name.split(".")[1]) for p in tmp_path.glob("started.*")]
        assert len(pids) == 2, "the two workers never started their jobs"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) != 0
        deadline = time.monotonic() + 10
        while any(map(_alive, pids)) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(map(_alive, pids)), "a worker outlived the terminated build"
    finally:
        proc.kill()
        for pid in pids:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
