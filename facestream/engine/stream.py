"""The streaming API: an `Engine` holds the model and the head; a `Stream` holds everything
that belongs to one audio stream (sherpa-onnx's shape).

    engine = Engine()                      # shipped model, default head, best backend
    s = engine.create_stream(fps=30)
    s.accept_waveform(44100, chunk)        # any rate, int16/float, mono or (S, C)
    s.set_emotion("happy", 0.8, transition=0.5)
    s.set_behaviour(gaze="camera", articulation=1.3)   # blinks, gaze, head, brows: behaviour.py
    while engine.is_ready(s):
        for frame in engine.decode_stream(s): ...
    s.input_finished(); frames = engine.decode_stream(s)   # flushes the look-ahead

Threading model: the Engine holds only read-only things (the backend session, the head)
and may be shared by threads; onnxruntime sessions allow concurrent `run` calls. A Stream
is not thread-safe: feed and decode it from one thread at a time (the server hands chunks
to its single inference thread through a queue; the microphone callback only enqueues).
onnxruntime gets `threads` intra-op threads (default 1: many streams scale by batching).

Batching: streams decoded together keep their states as rows of the batch's output arrays
(`Stream._state`, `Stream._row`), so the next call over the same streams passes those arrays
as they are. The arrays are shared: nothing may write into a state in place (a step returns
new arrays; `reset` makes new ones).
"""
from __future__ import annotations

import math
from functools import cached_property
from pathlib import Path

import numpy as np

from .. import vocab
from ..audio import to_mono_float32
from ..contract import OUT_ARKIT as _ARKIT, OUT_CLOSURE as _CLOSURE, OUT_JAW as _JAW, OUT_NECK as _NECK
from ..formats import load_expression_map
from .backends import open_backend
from .behaviour import Behaviour, BehaviourOptions
from .emotion import EmotionTransition, check_intensity, emotion_vector
from .filters import ArousalTracker, OneEuroFilter
from .frames import Frame, Frames, eye_pose_from_arkit, pose_vector
from .head import Head, load_head
from .states import gather_states

MAX_SAMPLE_RATE = 384_000
MAX_STEP_FRAMES = 50  # model frames per backend call (bounds latency of a backlog)
# A track row is the model's outputs, then E emotion weights, the intensity and the audio
# level (dB) of the step that made it: counted from the end, whatever the model's width.
_EMOTION, _INTENSITY, _LEVEL = slice(-vocab.NUM_EMOTIONS - 2, -2), -2, -1


def default_model_path() -> Path:
    from importlib import resources
    return Path(str(resources.files("facestream") / "assets" / "default_model.onnx"))


class Stream:
    """All per-stream state. Create it with `Engine.create_stream`."""

    def __init__(self, engine: "Engine", fps: int = vocab.DEFAULT_FPS, emotion="neutral",
                 intensity: float | str = 0.0, smoothing: bool = False, vertices: bool = False,
                 behaviour: BehaviourOptions | dict | None = None, seed: int | None = None):
        """behaviour: blinks, gaze, head motion, brows and articulation (BehaviourOptions, a
        dict of its fields, or None for the defaults: all on); seed: the stream's random seed
        (overrides behaviour's)."""
        if fps not in vocab.OUTPUT_FPS:
            raise ValueError(f"fps must be one of {vocab.OUTPUT_FPS}, got {fps}")
        self.engine, self.fps = engine, fps
        extra = {} if seed is None else {"seed": seed}
        self.behaviour_options = BehaviourOptions.from_any(behaviour, **extra)
        self.want_vertices = vertices
        self.smoothing = smoothing
        auto = intensity == "auto"
        vec = emotion_vector(emotion)
        inten = 0.5 if auto else check_intensity(intensity)
        self._emotion = EmotionTransition(vec, inten, vec, inten, auto=auto)
        self.reset()

    # ---- input -----------------------------------------------------------------------------
    def accept_waveform(self, sample_rate: int, samples) -> None:
        """Queue audio: int16/float32/float64, (S,) mono or (S, C) channels, any sample rate."""
        if self._finished:
            raise RuntimeError("input_finished() was called: reset() the stream to reuse it")
        if not isinstance(sample_rate, (int, np.integer)) or not 1000 <= sample_rate <= MAX_SAMPLE_RATE:
            raise ValueError(f"sample_rate must be an integer in 1000..{MAX_SAMPLE_RATE} Hz, got "
                             f"{sample_rate!r}")
        x = to_mono_float32(samples)
        if x.size == 0:
            return
        if sample_rate != vocab.SAMPLE_RATE:
            if self._rs is None or self._rs_rate != sample_rate:
                import soxr
                if self._rs is not None:  # rate changed mid-stream: drain the old resampler
                    self._append(self._rs.resample_chunk(np.zeros(0, np.float32), last=True))
                self._rs = soxr.ResampleStream(sample_rate, vocab.SAMPLE_RATE, 1, dtype="float32",
                                               quality="HQ")
                self._rs_rate = sample_rate
            x = self._rs.resample_chunk(x)
        elif self._rs is not None:
            self._append(self._rs.resample_chunk(np.zeros(0, np.float32), last=True))
            self._rs = None
        self._append(x)

    def _append(self, x: np.ndarray) -> None:
        """Queue 16 kHz samples at the end of the pending buffer, which grows by doubling and
        is compacted in place, so a steady stream allocates nothing."""
        n = x.size
        if not n:
            return
        lo, hi = self._lo, self._hi
        if hi + n > len(self._buf):
            keep = hi - lo
            if keep + n > len(self._buf) // 2:
                grown = np.empty(max(2 * (keep + n), 4 * vocab.HOP_SAMPLES), np.float32)
                grown[:keep] = self._buf[lo:hi]
                self._buf = grown
            else:
                self._buf[:keep] = self._buf[lo:hi]
            lo, hi = 0, keep
        self._buf[hi:hi + n] = x
        self._lo, self._hi = lo, hi + n
        self.samples_in += n

    def input_finished(self) -> None:
        """No more audio: pad to whole hops and flush the look-ahead with silence."""
        if self._finished:
            return
        if self._rs is not None:
            self._append(self._rs.resample_chunk(np.zeros(0, np.float32), last=True))
            self._rs = None
        self._final_frames = -(-self.samples_in // vocab.HOP_SAMPLES)
        rem = (-(self._hi - self._lo)) % vocab.HOP_SAMPLES
        pad = rem + self.engine.info.lookahead * vocab.HOP_SAMPLES
        samples_in = self.samples_in  # the padding is not audio
        self._append(np.zeros(pad, np.float32))
        self.samples_in = samples_in
        self._finished = True

    def set_emotion(self, emotion="neutral", intensity: float | str | None = None,
                    transition: float = 0.3) -> None:
        """Change the emotion (name, code, index, {name: weight} mixture or E weights) and
        intensity (0..1 or "auto") at any moment, blending over `transition` seconds."""
        if not (isinstance(transition, (int, float)) and math.isfinite(transition) and transition >= 0):
            raise ValueError(f"transition must be a non-negative number of seconds, got {transition!r}")
        cur_vec, cur_int = self._emotion.at(self._steps)
        auto = intensity == "auto" or (intensity is None and self._emotion.auto)
        target_int = cur_int if auto or intensity is None else check_intensity(intensity)
        self._emotion = EmotionTransition(cur_vec, cur_int, emotion_vector(emotion), target_int,
                                      t0=self._steps, steps=int(round(transition * vocab.INTERNAL_FPS)),
                                      auto=auto)

    def set_behaviour(self, **changes) -> BehaviourOptions:
        """Change behaviour options (BehaviourOptions' fields: blinks, blink_rate, gaze, head,
        brows, articulation) from the next frame on; blinks and glances in progress finish.
        A new seed takes effect at `reset`. Returns the options now in effect."""
        self.behaviour_options = self.behaviour_options.updated(**changes)
        self.behaviour.options = self.behaviour_options
        return self.behaviour_options

    def reset(self) -> None:
        """Forget all audio and state (emotion and behaviour settings are kept)."""
        self._buf, self._lo, self._hi = np.zeros(0, np.float32), 0, 0  # pending: _buf[_lo:_hi]
        self._rs, self._rs_rate = None, None
        self._state, self._row = self.engine.info.zero_state(1), 0  # see "Batching" above
        self._steps = 0  # model steps taken
        # Decoded internal frames still needed: rows _track[:_track_len] are the track rows
        # (outputs, emotion, level) of internal frames _track_base, _track_base + 1, ...
        self._track = np.zeros((0, 0), np.float32)  # grown to the rows' width by _absorb
        self._track_base, self._track_len = 0, 0
        self.frames: Frames | None = None  # what the last decode made (Engine.decode_arrays)
        self._next_out = 0
        self._finished = False
        self._final_frames = None
        self.samples_in = 0
        self._arousal = ArousalTracker()
        self._smoother = OneEuroFilter(rate=self.fps)
        self.behaviour = Behaviour(self.behaviour_options, self.fps)
        vec, inten = self._emotion.at(0)
        self._emotion = EmotionTransition(vec, inten, vec, inten, auto=self._emotion.auto)

    # ---- bookkeeping used by the engine ------------------------------------------------------
    @property
    def ready_frames(self) -> int:
        """Model steps the queued audio allows now."""
        return (self._hi - self._lo) // vocab.HOP_SAMPLES

    def _take(self, n: int, audio: np.ndarray, emo: np.ndarray) -> None:
        """Pop n hops of audio into `audio` (n*HOP) and write the emotion of each of those
        model steps into `emo` (n x (E+1): weights, intensity)."""
        hop = vocab.HOP_SAMPLES
        audio[:] = self._buf[self._lo:self._lo + n * hop]
        self._lo += n * hop
        if self._emotion.holds_from(self._steps):
            emo[:] = self._emotion.target_row  # the common case: one broadcast
            return
        for i in range(n):
            vec, inten = self._emotion.at(self._steps + i)
            if self._emotion.auto:
                inten = self._arousal.update(audio[i * hop:(i + 1) * hop])
                self._emotion.target_int = inten
            emo[i, :-1], emo[i, -1] = vec, inten

    def _absorb(self, rows: np.ndarray, n: int) -> None:
        """Keep the track rows of n model steps (n x (OUT_DIM+E+2): the outputs, the emotion
        they were made with and the audio level, interpolated together so a frame reports the
        emotion that shaped it) for `_due`."""
        first_frame = self._steps - self.engine.info.lookahead  # internal frame of rows[0]
        self._steps += n
        keep = rows[max(0, -first_frame):]
        if self._track_len == 0:
            self._track_base = max(0, first_frame)
        end = self._track_len + len(keep)
        if not len(keep):
            return
        if end > len(self._track):  # (the first rows also set the width)
            grown = np.empty((max(2 * end, 16), rows.shape[1]), np.float32)
            if self._track_len:
                grown[:self._track_len] = self._track[:self._track_len]
            self._track = grown
        self._track[self._track_len:end] = keep
        self._track_len = end

    def _due(self):
        """The output frames the track now covers -> (seq, time, track rows a and b F x D
        (None when F = 0), weight w: F lists but the rows): frame = (1 - w) * a + w * b (the engine blends the
        frames of many streams at once). Rows no later frame needs are dropped. A stream has
        a frame or two per chunk: Python floats beat numpy's per-call cost here."""
        have = self._track_base + self._track_len  # internal frames decoded so far
        final = self._final_frames
        last = None if final is None else final - 1
        seq, times, ia, ib, ws = [], [], [], [], []
        while True:
            k = self._next_out
            t = k / self.fps
            if last is not None and t * vocab.INTERNAL_FPS >= final:
                break
            # Frame k shows internal frame position p, between frames i0 and i1.
            p = max(0.0, t * vocab.INTERNAL_FPS - 0.5)
            i0 = int(math.floor(p))
            i1 = i0 + 1 if last is None else min(i0 + 1, last)
            i0 = i0 if last is None else min(i0, last)
            if i1 >= have:
                break
            seq.append(k)
            times.append(t)
            ia.append(i0 - self._track_base)
            ib.append(max(i0, i1) - self._track_base)
            ws.append(p - i0 if i1 > i0 else 0.0)
            self._next_out += 1
        if not seq:  # nothing due (the last call already dropped what it could)
            return seq, times, None, None, ws
        a, b = self._track[ia], self._track[ib]
        drop = int(math.floor(max(0.0, self._next_out / self.fps * vocab.INTERNAL_FPS - 0.5))) - self._track_base
        if drop > 0:
            rest = max(0, self._track_len - drop)
            self._track[:rest] = self._track[self._track_len - rest:self._track_len]
            self._track_base, self._track_len = self._track_base + drop, rest
        return seq, times, a, b, ws


class Engine:
    """Holds the model (a backend) and the head; creates and decodes streams."""

    def __init__(self, model: str | Path | None = None, head: Head | str | Path | None = None,
                 backend: str = "auto", threads: int = 1, arkit_to_flame: str | Path | None = None,
                 retarget: bool = True):
        """arkit_to_flame: a K_head x 52 map file for a head without the ARKit basis; without
        one such a head is retargeted (`retarget.cached_retarget`: fitted once, then read from
        the user cache) unless retarget=False, which leaves only the jaw, neck and eyes."""
        path = Path(model) if model is not None else default_model_path()
        self.model_path = path
        self.backend = open_backend(path, backend, threads)
        self.info = self.backend.info
        self.head = head if isinstance(head, Head) else load_head(head)
        self.expression_map = None  # K_head x 52 for heads without the ARKit basis
        self.retarget_fit = None  # the RetargetFit that made expression_map, when fitted
        self.warning = None
        if self.head.is_arkit:
            return
        if arkit_to_flame is not None:
            self.expression_map = load_expression_map(arkit_to_flame, self.head.num_expressions)
        elif retarget:
            from .retarget import RetargetError, cached_retarget
            try:
                self.retarget_fit = cached_retarget(self.head)
            except RetargetError as e:
                self.warning = (f"{e}; without an ARKit->head map (--arkit-map) only the jaw, "
                                "neck and eyes will move")
            else:
                self.expression_map = self.retarget_fit.map
                self.warning = self.retarget_fit.warning()
        else:
            self.warning = (f"head {self.head.name!r} has no ARKit expression basis, and "
                            "retargeting is off with no --arkit-map: only the jaw, neck and "
                            "eyes will move")

    @property
    def latency_ms(self) -> float:
        return self.info.latency_ms

    def create_stream(self, **options) -> Stream:
        return Stream(self, **options)

    def is_ready(self, stream: Stream) -> bool:
        return stream.ready_frames > 0

    def decode_stream(self, stream: Stream) -> list[Frame]:
        """Run the model over all queued audio of one stream; return the finished frames."""
        self.decode_arrays([stream])
        return stream.frames.to_list()

    def decode_streams(self, streams: list[Stream]) -> dict[int, list[Frame]]:
        """Batched decode as `decode_arrays`, with each stream's frames as `Frame` objects:
        {id(stream): frames}. A caller that handles arrays should call `decode_arrays`."""
        self.decode_arrays(streams)
        return {id(s): s.frames.to_list() for s in streams}

    def decode_arrays(self, streams: list[Stream]) -> Frames:
        """Batched decode: run the model over all queued audio of `streams` and return their
        finished frames as arrays, stream by stream (`Frames.stream` indexes `streams`); each
        stream's own part is also left on `stream.frames`. Streams with the same number of
        ready steps share one model call (at most MAX_STEP_FRAMES steps per call). Vertices
        are on the streams that asked for them (and on the result when all did)."""
        pending = [s for s in streams if s.ready_frames]
        while pending:
            groups: dict[int, list[Stream]] = {}
            for s in pending:
                groups.setdefault(min(s.ready_frames, MAX_STEP_FRAMES), []).append(s)
            for n, group in groups.items():
                self._step(group, n)
            pending = [s for s in pending if s.ready_frames]
        return self._frames(streams)

    def _step(self, group: list[Stream], n: int) -> None:
        """One model call: every stream of `group` takes n steps; their track rows go onto
        the streams."""
        batch, hop = len(group), vocab.HOP_SAMPLES
        audio = np.empty((batch, n * hop), np.float32)  # B x S
        emo = np.empty((batch, n, vocab.NUM_EMOTIONS + 1), np.float32)  # B x n x (E+1)
        for b, s in enumerate(group):
            s._take(n, audio[b], emo[b])
        power = np.add.reduce(np.square(audio.reshape(batch, n, hop)), 2) / hop  # B x n: the mean
        level = 10 * np.log10(power + 1e-10)  # dB re full scale
        cond = np.concatenate([emo[..., :-1] * emo[..., -1:], emo[..., -1:]], axis=-1)
        out, new = self.backend.step(audio, cond, gather_states(
            [(s._state, s._row) for s in group], self._axes))
        rows = np.concatenate([out, emo, level[..., None]], axis=-1)  # B x n x (OUT_DIM+E+2)
        for b, s in enumerate(group):
            s._state, s._row = new, b
            s._absorb(rows[b], n)

    @cached_property
    def _axes(self) -> list[int]:
        return [self.info.state_batch_axis(name) for name in self.info.state_names]

    def _frames(self, streams: list[Stream]) -> Frames:
        """The frames every stream's track now covers, blended, clipped and posed for all
        streams at once; the per-frame work left is each stream's smoothing and behaviour,
        which run on the stream's clock, in order."""
        seq, times, a, b, w, counts = [], [], [], [], [], []
        for s in streams:
            k, t, sa, sb, sw = s._due()
            counts.append(len(k))
            if k:  # (a stream that never ran has a track of width 0)
                seq += k
                times += t
                w += sw
                a.append(sa)
                b.append(sb)
        if not seq:  # no stream has a frame due (every other chunk at 20 ms): skip the work
            return self._no_frames(streams)
        a = np.concatenate(a)  # F x D
        b = np.concatenate(b)  # F x D
        seq, times, w = np.array(seq, np.int64), np.array(times, np.float64), np.array(w, np.float64)
        # 1 - w in float64, then both weights rounded to float32: what a per-frame
        # `(1 - w) * a + w * b` with a Python float w does, so frames do not change.
        rows = (1 - w).astype(np.float32)[:, None] * a + w.astype(np.float32)[:, None] * b  # F x D
        arkit = np.clip(rows[:, _ARKIT], 0.0, 1.0)  # F x 52
        jaw, neck, level = rows[:, _JAW], rows[:, _NECK], rows[:, _LEVEL]
        emotion, intensity = rows[:, _EMOTION], rows[:, _INTENSITY]
        lo = 0
        for s, count in zip(streams, counts):
            for i in range(lo, lo + count):
                if s.smoothing:
                    sm = s._smoother(np.concatenate([arkit[i], jaw[i], neck[i]]))
                    arkit[i], jaw[i], neck[i] = np.clip(sm[:52], 0, 1), sm[52:55], sm[55:58]
                # The behaviour writes into the frame after any smoothing (a blink is never
                # smoothed away).
                s.behaviour.step(arkit[i], jaw[i], neck[i], float(level[i]), emotion[i],
                                 float(intensity[i]))
            lo += count
        out = Frames(stream=np.repeat(np.arange(len(streams)), counts),
                     seq=seq, timestamp=times, arkit=arkit,
                     expression=self._expressions(arkit), jaw_pose=jaw, neck_pose=neck,
                     eye_pose=eye_pose_from_arkit(arkit), emotion=emotion, intensity=intensity)
        lo = 0
        for s, count in zip(streams, counts):
            s.frames = out.part(lo, lo + count)
            if s.want_vertices:
                s.frames.vertices = self._vertices(s.frames)
            lo += count
        if streams and all(s.want_vertices for s in streams):
            out.vertices = np.concatenate([s.frames.vertices for s in streams])
        return out

    def _no_frames(self, streams: list[Stream]) -> Frames:
        """`_frames` when no stream has a frame due: empty arrays of the usual shapes."""
        out = Frames(**self._empty_fields)
        for s in streams:
            s.frames = out.part(0, 0)
            if s.want_vertices:
                s.frames.vertices = np.zeros((0, self.head.num_vertices, 3), np.float32)
        if streams and all(s.want_vertices for s in streams):
            out.vertices = np.zeros((0, self.head.num_vertices, 3), np.float32)
        return out

    @cached_property
    def _empty_fields(self) -> dict:
        """The fields of `Frames` with no frames (empty arrays: nothing can write into them)."""
        arkit = np.zeros((0, vocab.NUM_ARKIT), np.float32)
        empty = Frames.empty(arkit, self._expressions(arkit))
        return {f: getattr(empty, f) for f in Frames.__dataclass_fields__ if f != "vertices"}

    def _expressions(self, arkit: np.ndarray) -> np.ndarray:
        """F x 52 -> F x K_head, frame by frame through a map: a matrix product over many
        rows rounds differently from one row's, and a frame must not depend on its batch."""
        if self.head.is_arkit or self.expression_map is None:
            return self.expression(arkit)
        out = np.empty((len(arkit), self.head.num_expressions), np.float32)
        for i, x in enumerate(arkit):
            out[i] = self.expression(x)
        return out

    def _vertices(self, frames: Frames) -> np.ndarray:
        """F x V x 3, frame by frame (as `vertices`, which a batched skinning would not
        reproduce bit for bit)."""
        out = np.empty((len(frames), self.head.num_vertices, 3), np.float32)
        for i in range(len(frames)):
            out[i] = self.head.forward(frames.expression[i], self.skin_pose(
                frames.jaw_pose[i], frames.neck_pose[i], frames.eye_pose[i]))
        return out

    def expression(self, arkit: np.ndarray) -> np.ndarray:
        """ARKit weights ... x 52 -> the active head's expression weights ... x K_head: the
        weights themselves on an ARKit head, through the ARKit->FLAME map, else zeros (only
        the jaw moves)."""
        if self.head.is_arkit:
            return arkit
        if self.expression_map is not None:
            return (arkit @ self.expression_map.T).astype(np.float32)
        return np.zeros((*np.shape(arkit)[:-1], self.head.num_expressions), np.float32)

    def vertices(self, frame: Frame) -> np.ndarray:
        """V x 3 vertices of the active head for a frame."""
        return self.head.forward(frame.expression,
                                 self.skin_pose(frame.jaw_pose, frame.neck_pose, frame.eye_pose))

    def skin_pose(self, jaw: np.ndarray, neck: np.ndarray, eyes: np.ndarray) -> np.ndarray:
        """... x 15 pose that skins the active head: `pose_vector`, except that an ARKit head
        turns its eyes with its eyeLook shapes, so its eye joints stay at rest (rotating
        them too would turn the eyes twice)."""
        return pose_vector(jaw, neck, np.zeros_like(eyes) if self.head.is_arkit else eyes)

