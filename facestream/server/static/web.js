// facestream in the browser: microphone -> AudioWorklet (16 kHz) -> Web Worker (onnxruntime-web
// runs the model, pipeline.js the engine's per-chunk steps and behaviour.js the living face)
// -> the page skins the head (rig.js) -> the shared WebGL2 renderer (renderer.js). Only static
// files are fetched: facestream.json, model.onnx, head.bin, rig.bin, ort/*. No server compute.
//
// Served by any static host (`facestream export --format web`) or by `facestream serve` under
// /web/ (?token=... when it has one). ?autostart=1 starts the microphone without a click
// (tests), ?features=0 draws the bare head. window.fsState exposes counters for tests;
// window.fsRunFile(samples, chunk, options) runs 16 kHz audio through the same worker and
// pipeline as the microphone and resolves to its frames (the parity test).
import { loadHead, makeRenderer } from "./renderer.js";
import { loadRig, makeSkinner } from "./rig.js";

const CHUNK_MS = 20;  // the page hands the worker audio in blocks of this length
const params = new URLSearchParams(location.search);
const token = params.get("token");
const withToken = (path) => token ? `${path}${path.includes("?") ? "&" : "?"}token=${encodeURIComponent(token)}` : path;
const statusEl = document.getElementById("status");
const state = window.fsState = {
  ready: false, errors: [], frames: 0, micLabel: null, audioChunks: 0, mouthOpen: [],
  maxDisplacement: 0, maxBlink: 0, maxLook: 0, latencies: [], mouthBox: null, threads: null,
  behaviour: null, drawn: 0,
};

function fail(message) {
  state.errors.push(message);
  statusEl.textContent = message;
  statusEl.className = "error";
}

// ---- the worker: requests with a seq, replies in order -------------------------------------
let worker = null, nextSeq = 1;
const waiting = new Map();
function request(msg, transfer = []) {
  const seq = nextSeq++;
  return new Promise((resolve, reject) => {
    waiting.set(seq, { resolve, reject });
    worker.postMessage({ ...msg, seq }, transfer);
  });
}

function startWorker() {
  worker = new Worker(new URL("worker.js", import.meta.url), { type: "module" });
  worker.onmessage = (ev) => {
    const m = ev.data, w = waiting.get(m.seq);
    waiting.delete(m.seq);
    if (m.type === "error") {
      if (w) w.reject(new Error(m.message)); else fail(m.message);
    } else if (w) w.resolve(m);
  };
  worker.onerror = (ev) => fail(`the model's worker failed: ${ev.message || "could not start it"} (a browser without module workers? use a current Chrome, Firefox or Safari)`);
}

// ---- main ---------------------------------------------------------------------------------
async function main() {
  if (typeof WebAssembly !== "object") throw new Error("this browser has no WebAssembly, which the model needs: use a current Chrome, Firefox or Safari (or the server page, which computes on the server)");
  if (typeof Worker !== "function") throw new Error("this browser has no Web Workers: use a current Chrome, Firefox or Safari");
  const res = await fetch(withToken("facestream.json"));
  if (!res.ok) throw new Error(`could not load facestream.json (HTTP ${res.status}): serve the whole folder \`facestream export --format web\` wrote`);
  const cfg = await res.json();
  const [head, rig] = await Promise.all([loadHead(withToken(cfg.head.file)), loadRig(withToken(cfg.head.rig))]);
  const draw = makeRenderer(document.getElementById("view"), head, { features: params.get("features") !== "0" });
  draw(head.rest);
  const lips = head.meta.materials.indexOf("lips");
  state.mouthBox = draw.box((i) => head.material[i] === lips);
  window.fsProject = (points) => points.map((p) => draw.project(...p));
  const skin = makeSkinner(rig, head.rest, cfg.pose_joints);
  const pose = (f) => ({ jaw: f.jaw, neck: f.neck });
  window.fsSkin = (arkit, jaw, neck) => Array.from(skin(arkit, { jaw, neck }));

  startWorker();
  const modelUrl = withToken(new URL(cfg.model.file, location.href).href);
  const ready = await request({ type: "init", config: cfg, model: modelUrl });
  state.threads = ready.threads;

  // controls -> options for new streams and messages for the running one
  const $ = (id) => document.getElementById(id);
  for (const e of cfg.emotion_names) $("emotion").add(new Option(e, e));
  for (const g of cfg.behaviour.constants.GAZE_MODES) $("gaze").add(new Option(g, g));
  const d = cfg.behaviour.defaults;
  $("blinks").checked = d.blinks; $("gaze").value = d.gaze; $("articulation").value = d.articulation;
  $("head").checked = d.head > 0; $("brows").checked = d.brows > 0;
  const emotionNow = () => ({ emotion: $("emotion").value, intensity: parseFloat($("intensity").value) });
  const behaviourNow = () => ({ blinks: $("blinks").checked, gaze: $("gaze").value,
                                head: $("head").checked ? d.head : 0, brows: $("brows").checked ? d.brows : 0,
                                articulation: parseFloat($("articulation").value) });
  let mic = null;
  const sendEmotion = () => mic && request({ type: "emotion", id: "mic", ...emotionNow() }).catch((e) => fail(String(e.message)));
  const sendBehaviour = () => mic && request({ type: "behaviour", id: "mic", changes: behaviourNow() })
    .then((r) => { state.behaviour = r.options; }).catch((e) => fail(String(e.message)));
  $("emotion").onchange = $("intensity").onchange = sendEmotion;
  for (const id of ["blinks", "gaze", "head", "brows", "articulation"]) $(id).onchange = sendBehaviour;

  // frames -> the latest is skinned and drawn at the display's rate
  let latest = null;
  const names = cfg.arkit_names, jawOpen = names.indexOf("jawOpen"), blinkL = names.indexOf("eyeBlinkLeft");
  const looks = names.map((n, i) => n.startsWith("eyeLook") ? i : -1).filter((i) => i >= 0);
  function show(frames) {
    for (const f of frames) {
      state.frames++;
      state.mouthOpen.push(f.arkit[jawOpen]);
      if (state.mouthOpen.length > 2000) state.mouthOpen.splice(0, 1000);
      state.maxBlink = Math.max(state.maxBlink, f.arkit[blinkL]);
      for (const i of looks) state.maxLook = Math.max(state.maxLook, f.arkit[i]);
      latest = f;
    }
  }
  function render() {
    if (latest) {
      const p = skin(latest.arkit, pose(latest));
      let m = 0;
      for (let i = 0; i < p.length; i++) m = Math.max(m, Math.abs(p[i] - head.rest[i]));
      state.maxDisplacement = Math.max(state.maxDisplacement, m);
      draw(p);
      state.drawn++;
      latest = null;
      const lat = state.latencies.length ? state.latencies[state.latencies.length - 1] : 0;
      statusEl.textContent = `in this browser (${state.threads} thread${state.threads > 1 ? "s" : ""}): frames ${state.frames}, mic to frame ${lat.toFixed(0)} ms`;
    }
    requestAnimationFrame(render);
  }
  requestAnimationFrame(render);

  // Microphone: AudioWorklet (16 kHz blocks of CHUNK_MS) -> worker. Each block's arrival time
  // on this thread is kept, so a frame's latency is (when it is back here) - (when the audio
  // at its timestamp arrived).
  async function startMic() {
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia)
      throw new Error("the microphone needs a secure page: open it over https or on http://localhost");
    if (typeof AudioWorkletNode !== "function") throw new Error("this browser has no AudioWorklet: use a current Chrome, Firefox or Safari");
    let media;
    try {
      media = await navigator.mediaDevices.getUserMedia({ audio: { echoCancellation: false, noiseSuppression: false, autoGainControl: false } });
    } catch (e) {
      if (e.name === "NotAllowedError") throw new Error("microphone permission was denied: allow the microphone for this site (the icon in the address bar) and press Start again");
      if (e.name === "NotFoundError") throw new Error("no microphone was found: connect one and press Start again");
      throw new Error(`the microphone could not be opened (${e.name}: ${e.message})`);
    }
    state.micLabel = media.getAudioTracks()[0].label;
    const ctx = new AudioContext();
    await ctx.audioWorklet.addModule(new URL("capture16k.js", import.meta.url).href);
    const node = new AudioWorkletNode(ctx, "facestream-capture-16k", { processorOptions: { rate: cfg.sample_rate, block: Math.round(cfg.sample_rate * CHUNK_MS / 1000) } });
    await request({ type: "create", id: "mic", options: { ...emotionNow(), behaviour: behaviourNow() } });
    mic = { ctx, media, node };
    let received = 0;
    const arrivals = [];  // [samples received so far, performance.now()] per block
    node.port.onmessage = (ev) => {
      received += ev.data.length;
      arrivals.push([received, performance.now()]);
      if (arrivals.length > 500) arrivals.splice(0, 250);
      state.audioChunks++;
      request({ type: "audio", id: "mic", samples: ev.data }, [ev.data.buffer]).then((r) => {
        const now = performance.now();
        for (const f of r.frames) {
          const s = f.timestamp * cfg.sample_rate, a = arrivals.find(([n]) => n >= s);
          if (a) state.latencies.push(now - a[1]);
        }
        if (state.latencies.length > 5000) state.latencies.splice(0, 2500);
        show(r.frames);
      }).catch((e) => fail(String(e.message)));
    };
    ctx.createMediaStreamSource(media).connect(node);
    // A worklet only runs while connected to the graph's output; a muted gain keeps it silent.
    const mute = ctx.createGain();
    mute.gain.value = 0;
    node.connect(mute).connect(ctx.destination);
    if (ctx.state !== "running") await ctx.resume();
    $("mic").disabled = true;
    statusEl.textContent = `listening (${state.micLabel})`;
  }
  $("mic").onclick = () => startMic().catch((e) => fail(String(e.message || e)));
  $("mic").disabled = false;

  // The parity test's entry: 16 kHz samples through a fresh stream, `chunk` samples at a time.
  let files = 0;
  window.fsRunFile = async (samples, chunk, options = {}) => {
    const id = `file${files++}`, x = Float32Array.from(samples), frames = [];
    await request({ type: "create", id, options });
    for (let off = 0; off < x.length; off += chunk)
      frames.push(...(await request({ type: "audio", id, samples: x.slice(off, off + chunk) })).frames);
    frames.push(...(await request({ type: "finish", id })).frames);
    await request({ type: "close", id });
    return frames.map((f) => ({ seq: f.seq, timestamp: f.timestamp, arkit: Array.from(f.arkit),
                                jaw: Array.from(f.jaw), neck: Array.from(f.neck), intensity: f.intensity }));
  };
  window.fsStats = async () => (await request({ type: "stats" })).stepMs;
  state.ready = true;
  statusEl.textContent = `model loaded (onnxruntime-web, ${state.threads} thread${state.threads > 1 ? "s" : ""}): press Start microphone`;
  if (params.get("autostart")) $("mic").click();
}

main().catch((e) => fail(String(e.message || e)));
