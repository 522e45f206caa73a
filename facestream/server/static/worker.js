// The model's thread: onnxruntime-web (WASM) runs facestream's model here, off the page's main
// thread, for any number of streams (pipeline.js holds each stream's state). Messages are
// handled strictly in order, one at a time, so a stream's chunks are never decoded out of
// turn while a run is awaited. Threads: ort's WASM build uses a pool of its own when the page
// is cross-origin isolated (SharedArrayBuffer), else one thread; either way this worker is the
// only caller of the session.
//
// Every message may carry a `seq`, which its reply (or error) echoes.
// in:  {type: "init", config, model}                  facestream.json's content, the model's url
//      {type: "create", id, options}                  a stream (Stream's options) -> "created"
//      {type: "audio", id, samples, tag}              16 kHz Float32Array -> "frames"
//      {type: "finish", id, tag}                      no more audio: flush -> "frames", done
//      {type: "emotion", id, emotion, intensity, transition}
//      {type: "behaviour", id, changes}               -> "behaviour" with the options in effect
//      {type: "stats"}                                -> "stats": each model run's time (ms)
//      {type: "close", id}
// out: {type: "ready", threads} | {type: "frames", id, frames, tag, done} | {type: "ok"} |
//      {type: "error", id, message, fatal}
import * as ort from "./ort/ort.wasm.min.mjs";
import { Engine } from "./pipeline.js";

let engine = null;
const streams = new Map();

async function init(msg) {
  if (typeof WebAssembly !== "object") throw new Error("this browser has no WebAssembly: the model cannot run in the page (use a current Chrome, Firefox or Safari, or the server page)");
  ort.env.wasm.wasmPaths = new URL("./ort/", import.meta.url).href;
  ort.env.wasm.numThreads = self.crossOriginIsolated ? Math.min(4, navigator.hardwareConcurrency || 1) : 1;
  let session;
  try {
    session = await ort.InferenceSession.create(msg.model, { executionProviders: ["wasm"], graphOptimizationLevel: "all" });
  } catch (e) {
    throw new Error(`the model failed to load in onnxruntime-web (${e.message || e}): check that ${msg.model.split("?")[0]} and the ort/ folder were copied whole`);
  }
  engine = new Engine(msg.config, session, ort.Tensor);
  return { type: "ready", threads: ort.env.wasm.numThreads, crossOriginIsolated: self.crossOriginIsolated };
}

function stream(id) {
  const s = streams.get(id);
  if (!s) throw new Error(`no stream ${JSON.stringify(id)}: create it first`);
  return s;
}

async function handle(msg) {
  if (msg.type === "init") return init(msg);
  if (!engine) throw new Error("the model is not loaded yet (send init first)");
  switch (msg.type) {
    case "create": streams.set(msg.id, engine.createStream(msg.options || {})); return { type: "created", id: msg.id };
    case "audio": {
      const s = stream(msg.id);
      s.acceptWaveform(msg.samples);
      return { type: "frames", id: msg.id, tag: msg.tag, frames: await engine.decode(s), done: false };
    }
    case "finish": {
      const s = stream(msg.id);
      s.inputFinished();
      return { type: "frames", id: msg.id, tag: msg.tag, frames: await engine.decode(s), done: true };
    }
    case "emotion": stream(msg.id).setEmotion(msg.emotion, msg.intensity ?? null, msg.transition); return null;
    case "behaviour": return { type: "behaviour", id: msg.id, options: stream(msg.id).setBehaviour(msg.changes) };
    case "stats": return { type: "stats", stepMs: engine.stepMs.slice() };
    case "close": streams.delete(msg.id); return null;
    default: throw new Error(`unknown message type ${JSON.stringify(msg.type)}`);
  }
}

let chain = Promise.resolve();
self.onmessage = (ev) => {
  const msg = ev.data;
  chain = chain.then(() => handle(msg)).then(
    (reply) => self.postMessage({ ...(reply || { type: "ok" }), seq: msg.seq }),
    (e) => self.postMessage({ type: "error", id: msg.id, seq: msg.seq, message: String(e.message || e), fatal: msg.type === "init" }));
};
