// The living face in the page: blinks, gaze, head motion, brow raises on accents and the
// articulation strength, laid over the model's frame once per output frame. A line-by-line
// port of facestream/engine/behaviour.py (docs/behaviour.md has the models and sources); every
// number is read from facestream.json (cfg.behaviour.constants: behaviour.py's and
// expressive.py's module constants by name). The random draws come from a seeded JS
// generator, not numpy's: the same seed gives the same face in the page, a different one
// from Python's (the parity test compares the deterministic paths).
//
// Gaze angles are degrees: yaw positive towards the subject's left, pitch positive up.

// One stream's random numbers: mulberry32, seeded per behaviour as numpy's spawn() keeps them
// apart (switching one behaviour off changes nothing else).
class Random {
  constructor(seed, stream) {
    let h = (seed ^ 0x9e3779b9 ^ Math.imul(stream + 1, 0x85ebca6b)) >>> 0;
    h = Math.imul(h ^ (h >>> 16), 0x45d9f3b) >>> 0;
    this.s = (h ^ (h >>> 16)) >>> 0;
    this.spare = null;
  }
  random() {  // [0, 1)
    let t = (this.s = (this.s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  uniform(a = 0, b = 1) { return a + (b - a) * this.random(); }
  normal(mu = 0, sd = 1) {
    if (this.spare !== null) { const z = this.spare; this.spare = null; return mu + sd * z; }
    let u = 0;
    while (u === 0) u = this.random();
    const r = Math.sqrt(-2 * Math.log(u)), a = 2 * Math.PI * this.random();
    this.spare = r * Math.sin(a);
    return mu + sd * r * Math.cos(a);
  }
  exponential(scale) { return -scale * Math.log(1 - this.random()); }
  gamma(shape, scale) {  // Marsaglia and Tsang (shape >= 1)
    const d = shape - 1 / 3, c = 1 / Math.sqrt(9 * d);
    for (;;) {
      let x, v;
      do { x = this.normal(); v = 1 + c * x; } while (v <= 0);
      v = v * v * v;
      const u = this.random();
      if (Math.log(u) < 0.5 * x * x + d - d * v + d * Math.log(v)) return scale * d * v;
    }
  }
}

// Options from defaults (cfg.behaviour.defaults) and changes; errors name the field and fix.
export function behaviourOptions(cfg, changes = {}) {
  const C = cfg.behaviour.constants, out = { ...cfg.behaviour.defaults };
  for (const [k, v] of Object.entries(changes)) {
    if (!(k in out)) throw new Error(`unknown behaviour option ${JSON.stringify(k)}: expected one of ${Object.keys(out).join(", ")}`);
    out[k] = v;
  }
  if (typeof out.blinks !== "boolean") throw new Error(`blinks must be true or false, got ${JSON.stringify(out.blinks)}`);
  for (const k of ["blink_rate", "head", "brows", "articulation"])
    if (typeof out[k] !== "number" || !Number.isFinite(out[k]) || out[k] < 0) throw new Error(`${k} must be a non-negative number, got ${JSON.stringify(out[k])}`);
  if (out.articulation > C.MAX_ARTICULATION) throw new Error(`articulation must be within [0, ${C.MAX_ARTICULATION}], got ${out.articulation}`);
  if (!(out.blink_rate > 0)) throw new Error("blink_rate must be a positive number of blinks per minute");
  if (!Number.isInteger(out.seed) || out.seed < 0) throw new Error(`seed must be a non-negative integer, got ${JSON.stringify(out.seed)}`);
  const g = out.gaze;
  const ok = typeof g === "string" ? C.GAZE_MODES.includes(g)
    : Array.isArray(g) && g.length === 2 && g.every((x) => typeof x === "number" && Math.abs(x) <= C.MAX_GAZE_DEG);
  if (!ok) throw new Error(`gaze must be one of ${C.GAZE_MODES.join(", ")} or a [yaw, pitch] target within ±${C.MAX_GAZE_DEG} degrees, got ${JSON.stringify(g)}`);
  return out;
}

const smoothStep = (u) => { u = Math.min(1, Math.max(0, u)); return u * u * u * (10 + u * (6 * u - 15)); };
const radians = (d) => d * Math.PI / 180;

// Lid closure at t (s after onset): expressive.py's _blink_shape.
function blinkShape(t, close, hold, opening) {
  if (t >= 0 && t < close) return Math.sin(0.5 * Math.PI * t / close) ** 2;
  if (t >= close && t < close + hold) return 1;
  if (t >= close + hold && t < close + hold + opening) { const u = (t - close - hold) / opening; return (1 - u) ** 2 * (1 + 2 * u); }
  return 0;
}

export class Behaviour {
  constructor(cfg, options, fps) {
    const C = this.C = cfg.behaviour.constants;
    const K = this.K = Object.fromEntries(cfg.arkit_names.map((n, i) => [n, i]));
    this.eyeLookRad = cfg.eye_look_rad;
    this.jawOpenMax = cfg.jaw_open_max_rad;
    this.emotionArkit = cfg.emotion.arkit;  // E x K
    this.blink = [K.eyeBlinkLeft, K.eyeBlinkRight]; this.wide = [K.eyeWideLeft, K.eyeWideRight];
    this.browOuter = [K.browOuterUpLeft, K.browOuterUpRight];
    this.options = options; this.fps = fps; this.dt = 1 / fps;
    [this.rBlink, this.rGaze, this.rHead, this.rBrow] = [0, 1, 2, 3].map((i) => new Random(options.seed, i));
    this.t = 0;
    this.events = [];  // the last few hundred (kind, time, ...): what tests and the page show
    this.level = C.LEVEL_FLOOR_DB;
    this.env = this.envPrev = this.slow = 0;
    this.rising = false; this.voicedS = 0; this.silentS = C.PHRASE_MIN_S; this.talking = false;
    this.lastAccent = -1e9;
    const r = this.rBlink;
    this.blinkClock = 0;
    this.nextBlink = r.uniform() * r.gamma(C.BLINK_SHAPE, 1 / C.BLINK_SHAPE);
    this.lastBlink = -1e9; this.pendingBlinks = []; this.blinks = [];
    this.atListener = true;
    this.nextGlance = this.glanceLength();
    this.fix = [0, 0]; this.micro = [0, 0]; this.gaze = [0, 0]; this.sacc = null; this.fixStart = 0;
    this.nextFix = this.fixationLength();
    this.nextMicro = this.rGaze.exponential(1 / C.MICRO_PER_S);
    const h = this.rHead;
    this.drift = C.DRIFT_DEG.map((s) => h.normal(0, s));
    this.breathPhase = h.uniform(0, 2 * Math.PI);
    this.nods = []; this.modelSlow = 0; this.modelNod = 0; this.follow = [0, 0];
    this.raises = [];
  }

  note(e) { this.events.push(e); if (this.events.length > 512) this.events.splice(0, 256); }

  // Lay this frame's behaviour over the model's, in place: arkit K, jaw 3, neck 3 (Float32Array),
  // loudDb the level the model heard last, emotion E weights and intensity in effect.
  step(arkit, jaw, neck, loudDb, emotion, intensity) {
    const o = this.options;
    const accent = this.listen(loudDb);
    if (o.articulation !== 1) this.articulate(arkit, jaw, emotion, intensity);
    if (o.brows > 0) this.brows(arkit, accent, emotion, intensity);
    if (o.blinks) this.blinkStep(arkit);
    if (o.gaze !== "off") this.look(arkit);
    if (o.head > 0) this.headStep(neck, accent);
    this.t += this.dt;
  }

  listen(db) {
    const C = this.C, dt = this.dt;
    this.level = Math.max(db, this.level - C.LEVEL_DECAY_DB_S * dt, C.LEVEL_FLOOR_DB);
    const voiced = db > this.level - C.VOICE_BELOW_PEAK_DB && db > C.LEVEL_FLOOR_DB - C.VOICE_FLOOR_MARGIN_DB;
    const loud = voiced ? Math.min(1, Math.max(0, (db - this.level + C.LOUD_RANGE_DB) / C.LOUD_RANGE_DB)) : 0;
    if (voiced) {
      if (!this.talking && this.silentS >= C.PHRASE_MIN_S && this.voicedS === 0) this.speechStarts();
      this.voicedS += dt; this.silentS = 0; this.talking = true;
    } else {
      this.silentS += dt;
      if (this.talking && this.silentS >= C.HANGOVER_S) {
        this.talking = false;
        if (this.voicedS >= C.PHRASE_MIN_S) this.phraseEnds();
        this.voicedS = 0;
      }
    }
    this.envPrev = this.env;
    this.env = this.env + (1 - Math.exp(-dt / C.ENVELOPE_TAU_S)) * (loud - this.env);
    this.slow += (1 - Math.exp(-dt / C.SLOW_TAU_S)) * (loud - this.slow);
    let accent = 0;
    if (this.env < this.envPrev && this.rising && this.envPrev > C.ACCENT_LOUD
        && this.envPrev - this.slow > C.ACCENT_ABOVE && this.t - this.lastAccent >= C.ACCENT_SPACING_S) {
      accent = this.envPrev; this.lastAccent = this.t;
    }
    this.rising = this.env > this.envPrev;
    return accent;
  }

  speechStarts() { if (this.atListener && this.rGaze.uniform() < this.C.TURN_LOOK_P) this.glance(false); }

  phraseEnds() {
    const C = this.C;
    if (this.rBlink.uniform() < C.PAUSE_BLINK_P) this.pendingBlinks.push(this.t + this.rBlink.uniform(...C.PAUSE_BLINK_DELAY_S));
    if (!this.atListener && this.rGaze.uniform() < C.TURN_LOOK_P) this.glance(true);
  }

  // Scale the speech part of the mouth about the emotion's own expression.
  articulate(arkit, jaw, emotion, intensity) {
    const s = this.options.articulation, j = this.K.jawOpen, before = arkit[j];
    for (const i of this.C.MOUTH) {
      let expr = 0;
      for (let e = 0; e < emotion.length; e++) expr += emotion[e] * intensity * this.emotionArkit[e][i];
      arkit[i] = Math.min(1, Math.max(0, expr + s * (arkit[i] - expr)));
    }
    jaw[0] += (arkit[j] - before) * this.jawOpenMax;
  }

  brows(arkit, accent, emotion, intensity) {
    const C = this.C;
    if (accent > 0) {
      let g = 0;
      for (let e = 0; e < emotion.length; e++) g += emotion[e] * (C.BROW_EMOTION_GAIN[e] - 1);
      const amp = C.BROW_RAISE * this.options.brows * accent * (1 + intensity * g) * this.rBrow.uniform(...C.BROW_RANDOM);
      this.raises.push([this.t, amp]);
    }
    if (!this.raises.length) return;
    let y = 0;
    for (const [start, amp] of this.raises) {
      const u = this.t - start;
      y += amp * (u < C.BROW_RISE_S ? Math.sin(0.5 * Math.PI * u / C.BROW_RISE_S) ** 2
        : 1 - smoothStep((u - C.BROW_RISE_S) / C.BROW_FALL_S));
    }
    this.raises = this.raises.filter((r) => this.t - r[0] < C.BROW_RISE_S + C.BROW_FALL_S);
    const i = this.K.browInnerUp;
    arkit[i] = Math.min(1, arkit[i] + y);
    for (const k of this.browOuter) arkit[k] = Math.min(1, arkit[k] + C.BROW_OUTER * y);
  }

  blinkStep(arkit) {
    const C = this.C, r = this.rBlink, t = this.t;
    const rate = this.options.blink_rate * (this.talking ? C.BLINK_TALK_GAIN : 1);
    this.blinkClock += this.dt * rate / 60;
    let due = this.blinkClock >= this.nextBlink;
    if (this.pendingBlinks.length && t >= this.pendingBlinks[0]) {
      this.pendingBlinks.shift();
      due = due || t - this.lastBlink >= C.BLINK_REFRACTORY_S;
    }
    if (due) {
      const onsets = [t];
      if (r.uniform() < C.DOUBLE_BLINK_P) onsets.push(t + r.uniform(...C.DOUBLE_BLINK_DELAY_S));
      for (const onset of onsets) {
        const close = r.uniform(...C.BLINK_CLOSE_S), hold = r.uniform(...C.BLINK_HOLD_S), opening = r.uniform(...C.BLINK_OPEN_S);
        this.blinks.push([onset, close, hold, opening, r.uniform(...C.BLINK_DEPTH), r.uniform(-C.BLINK_LAG_S, C.BLINK_LAG_S)]);
        this.note(["blink", onset, close + hold + opening]);
      }
      this.lastBlink = onsets[onsets.length - 1];
      this.blinkClock = 0;
      this.nextBlink = Math.max(C.BLINK_REFRACTORY_S * rate / 60, r.gamma(C.BLINK_SHAPE, 1 / C.BLINK_SHAPE));
    }
    if (!this.blinks.length) return;
    const closed = [0, 0];
    for (const [onset, close, hold, opening, depth, lag] of this.blinks) {
      closed[0] = Math.max(closed[0], depth * blinkShape(t - onset, close, hold, opening));
      closed[1] = Math.max(closed[1], depth * blinkShape(t - onset - lag, close, hold, opening));
    }
    this.blinks = this.blinks.filter((b) => t - b[0] - Math.abs(b[5]) < b[1] + b[2] + b[3]);
    for (let s = 0; s < 2; s++) {
      arkit[this.blink[s]] = 1 - (1 - arkit[this.blink[s]]) * (1 - closed[s]);
      arkit[this.wide[s]] *= 1 - closed[s];
    }
  }

  glanceLength() {
    const C = this.C, table = this.talking ? C.GLANCE_TALKING_S : C.GLANCE_LISTENING_S;
    return this.t + this.rGaze.uniform(...table[this.atListener ? 0 : 1]);
  }

  fixationLength() {
    const C = this.C, d = C.FIXATION_MEDIAN_S * Math.exp(C.FIXATION_SIGMA * this.rGaze.normal());
    return this.t + Math.min(C.FIXATION_S[1], Math.max(C.FIXATION_S[0], d));
  }

  glance(atListener) {
    this.atListener = atListener;
    this.note(["glance", this.t, atListener, this.talking]);
    this.nextGlance = this.glanceLength();
    this.nextFix = Math.max(this.t, this.fixStart + this.C.FIXATION_S[0]);
  }

  newFixation() {
    const C = this.C, r = this.rGaze, angle = r.uniform(0, 2 * Math.PI), g = this.options.gaze;
    if (g === "auto" && !this.atListener) {
      const amp = Math.min(C.AVERSION_DEG[1], C.AVERSION_DEG[0] + r.exponential(C.AVERSION_MEAN_DEG));
      return [[amp * Math.cos(angle), C.AVERSION_VERTICAL * amp * Math.sin(angle)], "aversion"];
    }
    const [yaw, pitch] = Array.isArray(g) ? g : [0, 0];
    const half = 0.5 * r.uniform(...C.FACE_SCAN_DEG);
    return [[yaw + half * Math.cos(angle), pitch + half * Math.sin(angle)], "scan"];
  }

  clipGaze(v) { return Math.min(this.C.MAX_GAZE_DEG, Math.max(-this.C.MAX_GAZE_DEG, v)); }

  look(arkit) {
    const C = this.C, r = this.rGaze, t = this.t;
    if (this.options.gaze === "auto" && t >= this.nextGlance) this.glance(!this.atListener);
    if (t >= this.nextFix && this.sacc === null) {
      const [[yaw, pitch], kind] = this.newFixation();
      const target = [this.clipGaze(yaw), this.clipGaze(pitch)];
      const amp = Math.hypot(target[0] - this.gaze[0], target[1] - this.gaze[1]);
      const dur = (C.SACCADE_MS[0] + C.SACCADE_MS[1] * amp) / 1000;
      this.sacc = [this.gaze, target, t, dur];
      this.fix = target; this.micro = [0, 0];
      this.note(["saccade", t, amp, kind, dur]);
    } else if (this.sacc === null && t >= this.nextMicro) {
      const amp = r.uniform(...C.MICRO_DEG), [mx, my] = this.micro;
      const angle = Math.hypot(mx, my) > 0.5 * C.MICRO_DEG[1]  // corrective: back towards the fixation
        ? Math.atan2(-my, -mx) + r.uniform(-C.MICRO_CORRECTION_RAD, C.MICRO_CORRECTION_RAD) : r.uniform(0, 2 * Math.PI);
      this.micro = [mx + amp * Math.cos(angle), my + amp * Math.sin(angle)];
      this.note(["micro", t, amp]);
      this.nextMicro = t + C.MICRO_REFRACTORY_S + r.exponential(1 / C.MICRO_PER_S);
    }
    if (this.sacc !== null) {
      const [[y0, p0], [y1, p1], start, dur] = this.sacc;
      const u = (t - start) / dur, w = smoothStep(u);
      this.gaze = [y0 + w * (y1 - y0), p0 + w * (p1 - p0)];
      if (u >= 1) { this.sacc = null; this.fixStart = t; this.nextFix = this.fixationLength(); }
    } else {
      this.gaze = [this.fix[0] + this.micro[0], this.fix[1] + this.micro[1]];
    }
    const yaw = radians(this.clipGaze(this.gaze[0])), pitch = radians(this.clipGaze(this.gaze[1]));
    const rad = this.eyeLookRad, L = C.EYE_LOOK;
    const up = Math.max(pitch, 0) / rad.Up, down = Math.max(-pitch, 0) / rad.Down;
    const left = Math.max(yaw, 0), right = Math.max(-yaw, 0);  // towards the subject's left / right
    for (const [i, w] of [[L.UpLeft, up], [L.UpRight, up], [L.DownLeft, down], [L.DownRight, down],
                          [L.OutLeft, left / rad.Out], [L.InRight, left / rad.In],
                          [L.InLeft, right / rad.In], [L.OutRight, right / rad.Out]])
      if (w) arkit[i] = Math.min(1, arkit[i] + w);
    if (down) for (const i of this.blink) arkit[i] = Math.min(1, arkit[i] + C.LID_FOLLOW_DOWN * down);
    if (up) for (const i of this.wide) arkit[i] = Math.min(1, arkit[i] + C.LID_FOLLOW_UP * up);
  }

  headStep(neck, accent) {
    const C = this.C, h = this.rHead, t = this.t, dt = this.dt, amount = this.options.head;
    const idle = amount * (this.talking ? C.TALKING_IDLE : 1);
    const d = this.drift;
    for (let i = 0; i < 3; i++) {
      const a = Math.exp(-dt / C.DRIFT_TAU_S[i]);
      d[i] = a * d[i] + C.DRIFT_DEG[i] * Math.sqrt(1 - a * a) * h.normal();
    }
    const breath = C.BREATH_DEG * Math.sin(2 * Math.PI * C.BREATH_HZ * t + this.breathPhase);
    // The model nods on accents too: top its nod up to the target, never add a second one.
    const a = Math.exp(-dt / C.MODEL_NOD_TAU_S), pitch = neck[0];
    this.modelSlow = a * this.modelSlow + (1 - a) * pitch;
    this.modelNod = Math.max(Math.abs(pitch - this.modelSlow), a * this.modelNod);
    if (accent > 0) {
      const target = radians(h.uniform(...C.NOD_DEG)) * accent * amount;
      if (target > this.modelNod) this.nods.push([t, target - this.modelNod, h.uniform(...C.NOD_S)]);
    }
    let nod = 0;
    for (const [start, amp, length] of this.nods) nod += amp * Math.sin(Math.PI * Math.min(1, (t - start) / length)) ** 2;
    this.nods = this.nods.filter((n) => t - n[0] < n[2]);
    const averted = this.options.gaze === "auto" && !this.atListener;
    const k = 1 - Math.exp(-dt / C.HEAD_FOLLOW_TAU_S);
    for (const i of [0, 1]) this.follow[i] += k * ((averted ? C.HEAD_FOLLOWS_GAZE * this.fix[i] : 0) - this.follow[i]);
    // neck x: pitch (positive nods down); y: yaw (towards the subject's left); z: roll
    neck[0] += nod + radians(idle * (d[0] + breath) - amount * this.follow[1]);
    neck[1] += radians(idle * d[1] + amount * this.follow[0]);
    neck[2] += radians(idle * d[2]);
  }
}
