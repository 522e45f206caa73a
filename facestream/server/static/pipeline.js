// The engine's per-chunk pipeline in JavaScript: what facestream/engine/stream.py does for one
// stream, step for step, with onnxruntime-web in place of onnxruntime. Every number comes from
// facestream.json (exporters/web.py: web_config), written from the Python modules.
//
//   const engine = new Engine(cfg, session, ort.Tensor);   // one model, any number of streams
//   const s = engine.createStream({ fps: 30, emotion: "happy", intensity: 0.6 });
//   s.acceptWaveform(samples16k);          // Float32Array at cfg.sample_rate
//   const frames = await engine.decode(s); // every frame the queued audio completes
//   s.inputFinished(); await engine.decode(s);   // flushes the look-ahead
//
// A Stream holds all per-stream state (audio not yet used, the model's state tensors, the
// track of decoded rows, emotion and behaviour); the Engine holds the session only. Shapes as
// in Python: S samples, n model steps, K = 52 ARKit weights, E = 7 emotions.
import { Behaviour, behaviourOptions } from "./behaviour.js";

export class PipelineError extends Error {}

function emotionVector(cfg, emotion) {
  const E = cfg.emotion_names.length, v = new Float64Array(E);
  if (typeof emotion === "number") {
    if (!(emotion >= 0 && emotion < E && Number.isInteger(emotion)))
      throw new PipelineError(`emotion index ${emotion} out of range: expected 0..${E - 1}`);
    v[emotion] = 1;
  } else if (typeof emotion === "string") {
    const key = emotion.trim().toLowerCase();
    let i = cfg.emotion_names.indexOf(key);
    if (i < 0) i = cfg.emotion_codes.map((c) => c.toLowerCase()).indexOf(key);
    if (i < 0) throw new PipelineError(`unknown emotion ${JSON.stringify(emotion)}: expected one of ${cfg.emotion_names.join(", ")}`);
    v[i] = 1;
  } else {
    if (!emotion || emotion.length !== E) throw new PipelineError(`an emotion mixture needs ${E} weights in the order ${cfg.emotion_codes.join(", ")}`);
    v.set(emotion);
  }
  const sum = v.reduce((a, b) => a + b, 0);
  if (!v.every((x) => Number.isFinite(x) && x >= 0) || !(sum > 0))
    throw new PipelineError("emotion weights must be finite, non-negative and not all zero");
  return v.map((x) => x / sum);
}

function checkIntensity(x) {
  if (typeof x !== "number" || !Number.isFinite(x) || x < 0 || x > 1)
    throw new PipelineError(`intensity must be a number within [0, 1], got ${JSON.stringify(x)}`);
  return x;
}

// An emotion transition (stream.py _EmotionState): a raised-cosine blend over `steps` model steps.
class EmotionState {
  constructor(startVec, startInt, targetVec, targetInt, t0 = 0, steps = 0) {
    Object.assign(this, { startVec, startInt, targetVec, targetInt, t0, steps });
  }
  at(step) {
    if (this.steps <= 0 || step >= this.t0 + this.steps) return [this.targetVec, this.targetInt];
    const u = Math.max(0, (step - this.t0) / this.steps);
    const w = 0.5 - 0.5 * Math.cos(Math.PI * u);
    const vec = this.startVec.map((s, e) => Math.fround((1 - w) * s + w * this.targetVec[e]));
    const sum = vec.reduce((a, b) => a + b, 0);
    return [vec.map((x) => x / sum), (1 - w) * this.startInt + w * this.targetInt];
  }
}

export class Stream {
  constructor(engine, { fps, emotion = "neutral", intensity = 0, behaviour = {}, seed } = {}) {
    const cfg = this.cfg = engine.cfg;
    this.engine = engine;
    this.fps = fps === undefined ? cfg.default_fps : fps;
    if (!cfg.output_fps.includes(this.fps)) throw new PipelineError(`fps must be one of ${cfg.output_fps.join(", ")}, got ${fps}`);
    this.behaviourOptions = behaviourOptions(cfg, { ...behaviour, ...(seed === undefined ? {} : { seed }) });
    const vec = emotionVector(cfg, emotion), inten = checkIntensity(intensity);
    this.emotion = new EmotionState(vec, inten, vec, inten);
    this.reset();
  }

  reset() {
    const cfg = this.cfg;
    this.pending = new Float32Array(0);
    this.states = this.engine.zeroStates();
    this.steps = 0;
    this.track = []; this.trackBase = 0; this.nextOut = 0;
    this.finished = false; this.finalFrames = null; this.samplesIn = 0;
    this.behaviour = new Behaviour(cfg, this.behaviourOptions, this.fps);
    const [vec, inten] = this.emotion.at(0);
    this.emotion = new EmotionState(vec, inten, vec, inten);
  }

  // samples: Float32Array at cfg.sample_rate (the AudioWorklet resamples the microphone).
  acceptWaveform(samples) {
    if (this.finished) throw new PipelineError("inputFinished() was called: reset() the stream to reuse it");
    if (!(samples instanceof Float32Array)) throw new PipelineError("acceptWaveform takes a Float32Array of 16 kHz mono samples");
    for (let i = 0; i < samples.length; i++)
      if (!Number.isFinite(samples[i])) throw new PipelineError("audio contains NaN or infinity");
    this.append(samples);
  }

  append(x) {
    if (!x.length) return;
    const p = new Float32Array(this.pending.length + x.length);
    p.set(this.pending); p.set(x, this.pending.length);
    this.pending = p; this.samplesIn += x.length;
  }

  inputFinished() {
    if (this.finished) return;
    const hop = this.cfg.hop_samples;
    this.finalFrames = Math.ceil(this.samplesIn / hop);
    const rem = (hop - (this.pending.length % hop)) % hop;
    const pad = new Float32Array(this.pending.length + rem + this.cfg.model.lookahead * hop);
    pad.set(this.pending);
    this.pending = pad;
    this.finished = true;
  }

  setEmotion(emotion = "neutral", intensity = null, transition = this.cfg.emotion.transition_s) {
    if (typeof transition !== "number" || !Number.isFinite(transition) || transition < 0)
      throw new PipelineError(`transition must be a non-negative number of seconds, got ${transition}`);
    const [curVec, curInt] = this.emotion.at(this.steps);
    const target = intensity === null ? curInt : checkIntensity(intensity);
    this.emotion = new EmotionState(curVec, curInt, emotionVector(this.cfg, emotion), target,
                                    this.steps, Math.round(transition * this.cfg.internal_fps));
  }

  setBehaviour(changes) {
    this.behaviourOptions = behaviourOptions(this.cfg, { ...this.behaviourOptions, ...changes });
    this.behaviour.options = this.behaviourOptions;
    return this.behaviourOptions;
  }

  get readyFrames() { return Math.floor(this.pending.length / this.cfg.hop_samples); }

  // Pop n hops: audio (n*HOP), each step's emotion row (E weights, intensity) and level (dB).
  take(n) {
    const hop = this.cfg.hop_samples, E = this.cfg.emotion_names.length;
    const audio = this.pending.slice(0, n * hop);
    this.pending = this.pending.slice(n * hop);
    const emo = new Float32Array(n * (E + 1)), level = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      let p = 0;
      for (let j = i * hop; j < (i + 1) * hop; j++) p += audio[j] * audio[j];
      level[i] = 10 * Math.log10(p / hop + 1e-10);
      const [vec, inten] = this.emotion.at(this.steps + i);
      emo.set(vec, i * (E + 1)); emo[i * (E + 1) + E] = inten;
    }
    return { audio, emo, level };
  }

  // Track rows (each OUT_DIM + E + 2: the outputs, the emotion they were made with, the
  // level) for n model steps -> the frames now complete.
  absorb(rows) {
    const first = this.steps - this.cfg.model.lookahead;  // internal frame of rows[0]
    this.steps += rows.length;
    const keep = rows.slice(Math.max(0, -first));
    if (this.track.length === 0) this.trackBase = Math.max(0, first);
    this.track.push(...keep);
    return this.emit();
  }

  // The output frames the track covers: frame k at t = k / fps is the internal track read at
  // t * INTERNAL_FPS - 0.5 (a frame's centre), linearly between its two neighbours.
  emit() {
    const ifps = this.cfg.internal_fps, out = [];
    const have = this.trackBase + this.track.length;
    const last = this.finalFrames === null ? null : this.finalFrames - 1;
    for (;;) {
      const k = this.nextOut, t = k / this.fps;
      if (last !== null && t * ifps >= this.finalFrames) break;
      const p = Math.max(0, t * ifps - 0.5);
      let i0 = Math.floor(p);
      const i1 = last === null ? i0 + 1 : Math.min(i0 + 1, last);
      i0 = last === null ? i0 : Math.min(i0, last);
      if (i1 >= have) break;
      const a = this.track[i0 - this.trackBase], b = this.track[Math.max(i0, i1) - this.trackBase];
      out.push(this.frame(k, t, a, b, i1 > i0 ? p - i0 : 0));
      this.nextOut++;
    }
    const drop = Math.floor(Math.max(0, this.nextOut / this.fps * ifps - 0.5)) - this.trackBase;
    if (drop > 0) { this.track.splice(0, drop); this.trackBase += drop; }
    return out;
  }

  // Blend two track rows in float32 as stream.py's _frames does, clip the ARKit weights,
  // then lay the behaviour over them.
  frame(k, t, a, b, w) {
    const wa = Math.fround(1 - w), wb = Math.fround(w), row = new Float32Array(a.length);
    for (let i = 0; i < a.length; i++) row[i] = Math.fround(wa * a[i]) + Math.fround(wb * b[i]);
    const L = this.cfg.model.output_layout, E = this.cfg.emotion_names.length, D = this.cfg.model.output_dim;
    const arkit = row.slice(L.arkit[0], L.arkit[1]).map((x) => Math.min(1, Math.max(0, x)));
    const jaw = row.slice(L.jaw[0], L.jaw[1]), neck = row.slice(L.neck[0], L.neck[1]);
    const emotion = row.slice(D, D + E), intensity = row[D + E], level = row[D + E + 1];
    this.behaviour.step(arkit, jaw, neck, level, emotion, intensity);
    return { seq: k, timestamp: t, arkit, jaw, neck, emotion, intensity };
  }
}

export class Engine {
  // session: an onnxruntime-web InferenceSession of the model; Tensor: ort.Tensor.
  constructor(cfg, session, Tensor) {
    if (cfg.format !== "facestream-web") throw new PipelineError("facestream.json is not a facestream web config: export the folder again with `facestream export --format web`");
    this.cfg = cfg; this.session = session; this.Tensor = Tensor;
    this.stepMs = [];  // wall time of each session.run (ms), for the benchmark
  }

  createStream(options) { return new Stream(this, options); }

  zeroStates() {
    const m = this.cfg.model;
    return m.state_shapes.map((shape) => new this.Tensor("float32", new Float32Array(shape.reduce((a, b) => a * b, 1)), shape));
  }

  // Run the model over all queued audio of one stream (at most max_step_frames steps a call,
  // as Engine.decode_streams); -> the finished frames.
  async decode(stream) {
    const frames = [];
    while (stream.readyFrames > 0) frames.push(...await this.step(stream, Math.min(stream.readyFrames, this.cfg.model.max_step_frames)));
    if (stream.finished) frames.push(...stream.emit());
    return frames;
  }

  async step(stream, n) {
    const m = this.cfg.model, E = this.cfg.emotion_names.length, hop = this.cfg.hop_samples;
    const { audio, emo, level } = stream.take(n);
    const cond = new Float32Array(n * (E + 1));  // each step: E weights x intensity, intensity
    for (let i = 0; i < n; i++) {
      const inten = emo[i * (E + 1) + E];
      for (let e = 0; e < E; e++) cond[i * (E + 1) + e] = emo[i * (E + 1) + e] * inten;
      cond[i * (E + 1) + E] = inten;
    }
    const feeds = { [m.inputs.audio]: new this.Tensor("float32", audio, [1, n * hop]),
                    [m.inputs.cond]: new this.Tensor("float32", cond, [1, n, E + 1]) };
    m.state_names.forEach((name, j) => { feeds[name] = stream.states[j]; });
    const t0 = performance.now();
    const res = await this.session.run(feeds);
    this.stepMs.push(performance.now() - t0);
    if (this.stepMs.length > 10000) this.stepMs.splice(0, 5000);
    stream.states = m.state_outputs.map((name) => res[name]);
    const out = res[m.output].data, D = m.output_dim, rows = [];
    for (let i = 0; i < n; i++) {
      const r = new Float32Array(D + E + 2);
      r.set(out.subarray(i * D, (i + 1) * D));
      r.set(emo.subarray(i * (E + 1), (i + 1) * (E + 1)), D);
      r[D + E + 1] = level[i];
      rows.push(r);
    }
    return stream.absorb(rows);
  }
}
