// facestream browser client: microphone -> websocket (protocol v2, docs/protocol.md) -> face
// drawn with WebGL2. Open http://HOST:PORT/?token=... ; add &autostart=1 to start the mic
// without a click (tests), &features=0 to draw the bare head (no brows, lashes or neck fade).
// window.fsState exposes counters for tests and debugging.
"use strict";

const params = new URLSearchParams(location.search);
const token = params.get("token");
const withToken = (path) => token ? `${path}${path.includes("?") ? "&" : "?"}token=${encodeURIComponent(token)}` : path;
const statusEl = document.getElementById("status");
const state = window.fsState = {
  hello: null, frames: 0, lastSeq: -1, dropped: 0, errors: [], audioChunks: 0,
  micLabel: null, maxDisplacement: 0, mouthOpen: [], latencyMs: 0, behaviour: null,
  maxBlink: 0, maxLook: 0,
};

// ---- the head mesh (/head.bin: u32 json length, json, f32 V*3, u32 F*3, u8 V materials
// padded to 4 bytes, f32 V*4 features: what the server's renderer paints brows, lashes and the
// neck fade from; meta.features has their names, the GLSL that paints them and its colours) ----
async function loadHead() {
  const buf = await (await fetch(withToken("/head.bin"))).arrayBuffer();
  const n = new DataView(buf).getUint32(0, true);
  const meta = JSON.parse(new TextDecoder().decode(new Uint8Array(buf, 4, n)));
  let off = 4 + n;
  const V = meta.num_vertices, F = meta.num_faces;
  const rest = new Float32Array(buf, off, V * 3); off += V * 12;
  const faces = new Uint32Array(buf, off, F * 3); off += F * 12;
  const material = new Uint8Array(buf, off, V); off += Math.ceil(V / 4) * 4;
  const features = new Float32Array(buf, off, V * 4);
  return { meta, rest, faces, material, features, V, F };
}

// ---- WebGL2 -----------------------------------------------------------------------------
const COLORS = { skin: [0.85, 0.66, 0.56], lips: [0.72, 0.36, 0.36], teeth: [0.95, 0.94, 0.9],
                 tongue: [0.75, 0.35, 0.38], sclera: [0.95, 0.95, 0.95], iris: [0.3, 0.45, 0.6],
                 pupil: [0.05, 0.05, 0.05], mouth: [0.3, 0.12, 0.12] };
const BACKGROUND = [0.19, 0.2, 0.23];

function compile(gl, type, src) {
  const s = gl.createShader(type);
  gl.shaderSource(s, src);
  gl.compileShader(s);
  if (!gl.getShaderParameter(s, gl.COMPILE_STATUS)) throw new Error(gl.getShaderInfoLog(s));
  return s;
}

function makeRenderer(canvas, head) {
  const gl = canvas.getContext("webgl2", { antialias: true, preserveDrawingBuffer: true });
  if (!gl) throw new Error("WebGL2 is not available in this browser");
  const prog = gl.createProgram();
  gl.attachShader(prog, compile(gl, gl.VERTEX_SHADER, `#version 300 es
    in vec3 pos; in vec3 nrm; in vec3 col; in vec4 feat;
    uniform mat4 mvp; out vec3 vN; out vec3 vC; out vec4 vF;
    void main() { vN = nrm; vC = col; vF = feat; gl_Position = mvp * vec4(pos, 1.0); }`));
  // paint_features and neck_fade come with the head (the renderer's own GLSL, features.py)
  gl.attachShader(prog, compile(gl, gl.FRAGMENT_SHADER, `#version 300 es
    precision highp float;
    ${head.meta.features.glsl}
    in vec3 vN; in vec3 vC; in vec4 vF; out vec4 o;
    uniform vec3 background; uniform bool show_features;
    void main() {
      vec3 n = normalize(vN);
      float d = max(dot(n, normalize(vec3(0.3, 0.4, 1.0))), 0.0);
      vec3 albedo = show_features ? paint_features(vF, vC, 0.0).rgb : vC;
      float fade = show_features ? neck_fade(vF) : 0.0;
      o = vec4(mix(albedo * (0.3 + 0.75 * d), background, fade), 1.0);
    }`));
  gl.linkProgram(prog);
  if (!gl.getProgramParameter(prog, gl.LINK_STATUS)) throw new Error(gl.getProgramInfoLog(prog));
  gl.useProgram(prog);

  const names = head.meta.materials;
  const col = new Float32Array(head.V * 3);
  for (let i = 0; i < head.V; i++) col.set(COLORS[names[head.material[i]]] || COLORS.skin, 3 * i);
  const buffers = {};
  for (const [name, data, usage, size] of [["pos", head.rest, gl.DYNAMIC_DRAW, 3],
                                           ["nrm", new Float32Array(head.V * 3), gl.DYNAMIC_DRAW, 3],
                                           ["col", col, gl.STATIC_DRAW, 3],
                                           ["feat", head.features, gl.STATIC_DRAW, 4]]) {
    const b = buffers[name] = gl.createBuffer();
    gl.bindBuffer(gl.ARRAY_BUFFER, b);
    gl.bufferData(gl.ARRAY_BUFFER, data, usage);
    const loc = gl.getAttribLocation(prog, name);
    gl.enableVertexAttribArray(loc);
    gl.vertexAttribPointer(loc, size, gl.FLOAT, false, 0, 0);
  }
  const uniform = (name) => gl.getUniformLocation(prog, name);
  gl.uniform3fv(uniform("brow_colour"), head.meta.features.brow_colour);
  gl.uniform3fv(uniform("lash_colour"), head.meta.features.lash_colour);
  gl.uniform3fv(uniform("background"), BACKGROUND);
  gl.uniform1i(uniform("show_features"), params.get("features") === "0" ? 0 : 1);
  const ibo = gl.createBuffer();
  gl.bindBuffer(gl.ELEMENT_ARRAY_BUFFER, ibo);
  gl.bufferData(gl.ELEMENT_ARRAY_BUFFER, head.faces, gl.STATIC_DRAW);

  // Frame the face: centre of the bounding box, a 30 degree perspective camera on +z.
  const lo = [Infinity, Infinity, Infinity], hi = [-Infinity, -Infinity, -Infinity];
  for (let i = 0; i < head.V; i++) for (let k = 0; k < 3; k++) {
    lo[k] = Math.min(lo[k], head.rest[3 * i + k]); hi[k] = Math.max(hi[k], head.rest[3 * i + k]);
  }
  const c = [0, 1, 2].map((k) => (lo[k] + hi[k]) / 2);
  const size = Math.max(hi[0] - lo[0], hi[1] - lo[1]);
  const f = 1 / Math.tan(Math.PI / 12), dist = 1.15 * size * f / 2 + (hi[2] - c[2]);
  const near = dist / 10, far = dist * 10;
  // column-major perspective * translate(-c.x, -c.y, -c.z - dist)
  const tz = -c[2] - dist;
  const mvp = new Float32Array([
    f, 0, 0, 0, 0, f, 0, 0, 0, 0, (far + near) / (near - far), -1,
    -c[0] * f, -c[1] * f, tz * (far + near) / (near - far) + 2 * far * near / (near - far), -tz]);
  gl.uniformMatrix4fv(gl.getUniformLocation(prog, "mvp"), false, mvp);
  gl.enable(gl.DEPTH_TEST);

  const nrm = new Float32Array(head.V * 3);
  function normals(p) {
    nrm.fill(0);
    const t = head.faces;
    for (let i = 0; i < t.length; i += 3) {
      const a = 3 * t[i], b = 3 * t[i + 1], d = 3 * t[i + 2];
      const ux = p[b] - p[a], uy = p[b + 1] - p[a + 1], uz = p[b + 2] - p[a + 2];
      const vx = p[d] - p[a], vy = p[d + 1] - p[a + 1], vz = p[d + 2] - p[a + 2];
      const nx = uy * vz - uz * vy, ny = uz * vx - ux * vz, nz = ux * vy - uy * vx;
      for (const j of [a, b, d]) { nrm[j] += nx; nrm[j + 1] += ny; nrm[j + 2] += nz; }
    }
    return nrm;
  }
  const draw = function (positions) {
    gl.bindBuffer(gl.ARRAY_BUFFER, buffers.pos);
    gl.bufferSubData(gl.ARRAY_BUFFER, 0, positions);
    gl.bindBuffer(gl.ARRAY_BUFFER, buffers.nrm);
    gl.bufferSubData(gl.ARRAY_BUFFER, 0, normals(positions));
    gl.viewport(0, 0, gl.canvas.width, gl.canvas.height);
    gl.clearColor(...BACKGROUND, 1);
    gl.clear(gl.COLOR_BUFFER_BIT | gl.DEPTH_BUFFER_BIT);
    gl.drawElements(gl.TRIANGLES, head.faces.length, gl.UNSIGNED_INT, 0);
  };
  // Canvas pixels (x right, y down) of a point in the head's frame.
  draw.project = function (x, y, z) {
    const w = mvp[3] * x + mvp[7] * y + mvp[11] * z + mvp[15];
    return [(1 + (mvp[0] * x + mvp[4] * y + mvp[8] * z + mvp[12]) / w) / 2 * gl.canvas.width,
            (1 - (mvp[1] * x + mvp[5] * y + mvp[9] * z + mvp[13]) / w) / 2 * gl.canvas.height];
  };
  // The canvas-pixel box of some vertices (the lips: where a test looks for a moving mouth).
  draw.box = function (which) {
    const b = [Infinity, Infinity, -Infinity, -Infinity];
    for (let i = 0; i < head.V; i++) {
      if (!which(i)) continue;
      const [px, py] = draw.project(head.rest[3 * i], head.rest[3 * i + 1], head.rest[3 * i + 2]);
      b[0] = Math.min(b[0], px); b[1] = Math.min(b[1], py); b[2] = Math.max(b[2], px); b[3] = Math.max(b[3], py);
    }
    return b;
  };
  return draw;
}

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
  const head = await loadHead();
  const draw = makeRenderer(document.getElementById("view"), head);
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
