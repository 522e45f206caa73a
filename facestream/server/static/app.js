// facestream browser client: microphone -> websocket (protocol v2, docs/protocol.md) -> face
// drawn with WebGL2. Open http://HOST:PORT/?token=... ; add &autostart=1 to start the mic
// without a click (tests), &features=0 to draw the bare head (no brows, lashes or neck fade).
// window.fsState exposes counters for tests and debugging. An ES module: the renderer is
// renderer.js, shared with the in-browser page (web.js, offered under /web/).
import { loadHead, makeRenderer } from "./renderer.js";

const params = new URLSearchParams(location.search);
const token = params.get("token");
const withToken = (path) => token ? `${path}${path.includes("?") ? "&" : "?"}token=${encodeURIComponent(token)}` : path;
const statusEl = document.getElementById("status");
const state = window.fsState = {
  hello: null, frames: 0, lastSeq: -1, dropped: 0, errors: [], audioChunks: 0,
  micLabel: null, maxDisplacement: 0, mouthOpen: [], latencyMs: 0, behaviour: null,
  maxBlink: 0, maxLook: 0,
};

// ---- frames (48-byte little-endian header, then float32 blocks) ---------------------------
// float16 vertices (half the bytes) decoded through a 65536-entry table.
const F16 = new Float32Array(65536);
for (let h = 0; h < 65536; h++) {
  const s = h & 0x8000 ? -1 : 1, e = (h >> 10) & 31, m = h & 1023;
  F16[h] = s * (e === 0 ? m * 2 ** -24 : e === 31 ? (m ? NaN : Infinity) : (1 + m / 1024) * 2 ** (e - 15));
}
function f16ToF32(u) {
  const out = new Float32Array(u.length);
  for (let i = 0; i < u.length; i++) out[i] = F16[u[i]];
  return out;
}

function parseFrame(buf) {
  const h = new DataView(buf);
  const magic = String.fromCharCode(h.getUint8(0), h.getUint8(1), h.getUint8(2), h.getUint8(3));
  if (magic !== state.hello.magic || h.getUint8(4) !== state.hello.protocol) return null;
  const na = h.getUint16(40, true), nf = h.getUint16(42, true), nv = h.getUint32(44, true);
  const off = state.hello.frame_header_bytes;
  return {
    seq: h.getUint32(8, true), timestamp: h.getFloat64(16, true), created: h.getFloat64(24, true),
    dropped: h.getUint32(36, true),
    arkit: new Float32Array(buf, off, na),
    vertices: !nv ? null : (h.getUint16(6, true) & 1)
      ? f16ToF32(new Uint16Array(buf, off + 4 * (na + nf), nv * 3))
      : new Float32Array(buf, off + 4 * (na + nf), nv * 3),
  };
}

// ---- behaviour controls (blinks, gaze, head motion, brows, mouth strength) -----------------
function showBehaviour(b) {
  state.behaviour = b;
  document.getElementById("blinks").checked = b.blinks;
  const gaze = document.getElementById("gaze");
  if (typeof b.gaze === "string") gaze.value = b.gaze;
  document.getElementById("head").checked = b.head > 0;
  document.getElementById("brows").checked = b.brows > 0;
  document.getElementById("articulation").value = b.articulation;
}

// ---- main ---------------------------------------------------------------------------------
async function main() {
  const head = await loadHead(withToken("/head.bin"));
  const draw = makeRenderer(document.getElementById("view"), head, { features: params.get("features") !== "0" });
  document.getElementById("local").href = withToken("web/");
  draw(head.rest);
  const lips = head.meta.materials.indexOf("lips");
  state.mouthBox = draw.box((i) => head.material[i] === lips);
  window.fsProject = (points) => points.map((p) => draw.project(...p));  // tests
  const wsUrl = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`;
  const ws = new WebSocket(withToken(wsUrl + (params.get("session") ? `?session=${params.get("session")}` : "")));
  ws.binaryType = "arraybuffer";
  let latest = null;
  ws.onmessage = (ev) => {
    if (typeof ev.data === "string") {
      const m = JSON.parse(ev.data);
      if (m.type === "hello") {
        state.hello = m;
        ws.send(JSON.stringify({ type: "subscribe", formats: ["arkit", "vertices"], vertex_dtype: "f16" }));
        const sel = document.getElementById("emotion");
        for (const e of m.emotion_names) sel.add(new Option(e, e));
        showBehaviour(m.behaviour);
        statusEl.textContent = `session ${m.session} (${m.role}), ${m.fps} fps`;
      } else if (m.type === "behaviour") {
        showBehaviour(m);
      } else if (m.type === "error") {
        state.errors.push(m);
        statusEl.textContent = `error ${m.code} ${m.name}: ${m.message}`;
      }
      return;
    }
    const f = parseFrame(ev.data);
    if (!f) return;
    state.frames++; state.lastSeq = f.seq; state.dropped = f.dropped;
    state.latencyMs = Date.now() - f.created * 1000;
    if (state.frames % 15 === 0) (state.latencies = state.latencies || []).push(Math.round(state.latencyMs));
    if (f.arkit.length) {
      const names = state.hello.arkit_names;
      state.mouthOpen.push(f.arkit[names.indexOf("jawOpen")]);
      state.maxBlink = Math.max(state.maxBlink, f.arkit[names.indexOf("eyeBlinkLeft")]);
      for (let i = 0; i < names.length; i++)
        if (names[i].startsWith("eyeLook")) state.maxLook = Math.max(state.maxLook, f.arkit[i]);
    }
    if (f.vertices) latest = f.vertices;
  };
  ws.onclose = (ev) => { statusEl.textContent = `closed (${ev.code} ${ev.reason})`; };
  function render() {
    if (latest) {
      let m = 0;
      for (let i = 0; i < latest.length; i++) m = Math.max(m, Math.abs(latest[i] - head.rest[i]));
      state.maxDisplacement = Math.max(state.maxDisplacement, m);
      draw(latest);
      latest = null;
      statusEl.textContent = `frames ${state.frames}, dropped ${state.dropped}, delivery ${state.latencyMs.toFixed(0)} ms`;
    }
    requestAnimationFrame(render);
  }
  requestAnimationFrame(render);

  const sendEmotion = () => {
    if (ws.readyState !== 1) return;
    ws.send(JSON.stringify({ type: "set_emotion", emotion: document.getElementById("emotion").value,
                             intensity: parseFloat(document.getElementById("intensity").value),
                             transition: 0.3 }));
  };
  document.getElementById("emotion").onchange = sendEmotion;
  document.getElementById("intensity").onchange = sendEmotion;
  // Behaviour toggles -> set_behaviour; the server's `behaviour` note sets them back.
  const sendBehaviour = (changes) => {
    if (ws.readyState === 1) ws.send(JSON.stringify({ type: "set_behaviour", ...changes }));
  };
  document.getElementById("blinks").onchange = (e) => sendBehaviour({ blinks: e.target.checked });
  document.getElementById("gaze").onchange = (e) => sendBehaviour({ gaze: e.target.value });
  document.getElementById("head").onchange = (e) => sendBehaviour({ head: e.target.checked ? 1.0 : 0.0 });
  document.getElementById("brows").onchange = (e) => sendBehaviour({ brows: e.target.checked ? 1.0 : 0.0 });
  document.getElementById("articulation").onchange = (e) => sendBehaviour({ articulation: parseFloat(e.target.value) });
  const micButton = document.getElementById("mic");
  micButton.onclick = () => startMic(ws).catch((e) => { state.errors.push(String(e)); statusEl.textContent = String(e); });
  if (params.get("autostart")) ws.addEventListener("open", () => micButton.click());
}

// Microphone: AudioWorklet blocks -> 20 ms int16 chunks -> the socket.
async function startMic(ws) {
  const media = await navigator.mediaDevices.getUserMedia({ audio: { echoCancellation: false, noiseSuppression: false, autoGainControl: false } });
  state.micLabel = media.getAudioTracks()[0].label;
  const ctx = new AudioContext();
  await ctx.audioWorklet.addModule("static/capture.js");
  const src = ctx.createMediaStreamSource(media);
  const node = new AudioWorkletNode(ctx, "facestream-capture");
  const chunk = Math.round(ctx.sampleRate * 0.02);
  let pending = new Int16Array(chunk), n = 0;
  ws.send(JSON.stringify({ type: "start", sample_rate: ctx.sampleRate, format: "s16le", channels: 1 }));
  node.port.onmessage = (ev) => {
    for (const x of ev.data) {
      pending[n++] = Math.max(-32768, Math.min(32767, Math.round(x * 32767)));
      if (n === chunk) {
        if (ws.readyState === 1) { ws.send(pending.buffer); state.audioChunks++; }
        pending = new Int16Array(chunk); n = 0;
      }
    }
  };
  src.connect(node);
  // A worklet only runs while connected to the graph's output; a muted gain keeps it silent.
  const mute = ctx.createGain();
  mute.gain.value = 0;
  node.connect(mute).connect(ctx.destination);
  if (ctx.state !== "running") await ctx.resume();
  document.getElementById("mic").disabled = true;
}

main().catch((e) => { state.errors.push(String(e)); statusEl.textContent = String(e); });
