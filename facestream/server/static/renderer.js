// The WebGL2 face renderer of both browser pages: the server's (app.js: vertices arrive over
// the websocket) and the in-browser one (web.js: the page skins the head itself). It draws
// V x 3 positions of the head from /head.bin with the brows, lashes and neck fade painted by
// the renderer's own GLSL (viewer/features.py sends it with the head).

// ---- the head mesh (head.bin: u32 json length, json, f32 V*3, u32 F*3, u8 V materials
// padded to 4 bytes, f32 V*4 features: what the server's renderer paints brows, lashes and the
// neck fade from; meta.features has their names, the GLSL that paints them and its colours) ----
// A binary file that starts with a u32 length and a JSON header: -> {buf, meta, off} where
// `off` is the byte after the header (head.bin, and rig.bin of the in-browser page).
export async function fetchHeaded(url, what) {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`could not load the ${what} from ${url.split("?")[0]}: HTTP ${res.status}`);
  const buf = await res.arrayBuffer();
  const n = new DataView(buf).getUint32(0, true);
  return { buf, meta: JSON.parse(new TextDecoder().decode(new Uint8Array(buf, 4, n))), off: 4 + n };
}

export async function loadHead(url) {
  const h = await fetchHeaded(url, "head"), { buf, meta } = h;
  let off = h.off;
  const V = meta.num_vertices, F = meta.num_faces;
  const rest = new Float32Array(buf, off, V * 3); off += V * 12;
  const faces = new Uint32Array(buf, off, F * 3); off += F * 12;
  const material = new Uint8Array(buf, off, V); off += Math.ceil(V / 4) * 4;
  const features = new Float32Array(buf, off, V * 4);
  return { meta, rest, faces, material, features, V, F };
}

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

// -> draw(positions: Float32Array V*3), with draw.project(x, y, z) and draw.box(which).
// options.features: paint brows, lashes and the neck fade (default true).
export function makeRenderer(canvas, head, options = {}) {
  const gl = canvas.getContext("webgl2", { antialias: true, preserveDrawingBuffer: true });
  if (!gl) throw new Error("WebGL2 is not available in this browser: enable hardware acceleration or use a current Chrome, Firefox or Safari");
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
  gl.uniform1i(uniform("show_features"), options.features === false ? 0 : 1);
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
