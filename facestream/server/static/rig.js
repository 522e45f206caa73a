// The head's deformation in the page: ARKit expression shapes, then linear blend skinning of
// the neck and jaw joints (facestream/engine/lbs.py, Head.forward and Engine.skin_pose for an
// ARKit head: the eyes turn with their eyeLook shapes, so the eye joints stay at rest).
// rig.bin is written by exporters/web.py (rig_bin). Shapes: V vertices, J joints, K shapes.

import { fetchHeaded } from "./renderer.js";

export async function loadRig(url) {
  const h = await fetchHeaded(url, "rig"), { buf, meta } = h;
  if (meta.format !== "facestream-rig") throw new Error(`${url.split("?")[0]} is not a facestream rig: export the folder again`);
  let off = h.off;
  const shapes = meta.counts.map((c) => {
    const idx = new Uint32Array(buf, off, c); off += 4 * c;
    const d = new Float32Array(buf, off, 3 * c); off += 12 * c;
    return { idx, d };
  });
  const V = meta.num_vertices, J = meta.num_joints;
  const weights = new Float32Array(buf, off, V * J);
  return { V, J, shapes, weights, joints: meta.joints, parents: meta.parents, names: meta.expr_names };
}

// Axis-angle (3) -> row-major 3 x 3 (lbs.rodrigues).
function rodrigues(x, y, z) {
  const t = Math.hypot(x, y, z);
  const a = t < 1e-8 ? 1 : Math.sin(t) / t, b = t < 1e-8 ? 0.5 : (1 - Math.cos(t)) / (t * t);
  const k = [0, -z, y, z, 0, -x, -y, x, 0], r = [1, 0, 0, 0, 1, 0, 0, 0, 1];
  for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) {
    let kk = 0;
    for (let m = 0; m < 3; m++) kk += k[3 * i + m] * k[3 * m + j];
    r[3 * i + j] += a * k[3 * i + j] + b * kk;
  }
  return r;
}

// -> skin(arkit K, pose) into a V x 3 Float32Array; pose: {joint name: axis-angle 3}, the rest at rest.
export function makeSkinner(rig, rest, jointNames) {
  const { V, J, shapes, weights, joints, parents } = rig;
  const shaped = new Float32Array(V * 3), out = new Float32Array(V * 3), T = new Float64Array(J * 12);
  return function skin(arkit, pose) {
    shaped.set(rest);
    for (let k = 0; k < shapes.length; k++) {
      const w = arkit[k];
      if (!w) continue;
      const { idx, d } = shapes[k];
      for (let i = 0; i < idx.length; i++) {
        const v = 3 * idx[i];
        shaped[v] += w * d[3 * i]; shaped[v + 1] += w * d[3 * i + 1]; shaped[v + 2] += w * d[3 * i + 2];
      }
    }
    // World transforms relative to the rest pose (lbs.rigid_transforms), 3 x 4 row-major.
    const world = [];
    for (let j = 0; j < J; j++) {
      const p = pose[jointNames[j]] || [0, 0, 0], R = rodrigues(p[0], p[1], p[2]);
      const rel = parents[j] < 0 ? joints[j] : joints[j].map((c, i) => c - joints[parents[j]][i]);
      const local = [R[0], R[1], R[2], rel[0], R[3], R[4], R[5], rel[1], R[6], R[7], R[8], rel[2]];
      if (parents[j] < 0) { world.push(local); continue; }
      const P = world[parents[j]], W = new Array(12);
      for (let r = 0; r < 3; r++) {
        for (let c = 0; c < 4; c++) {
          W[4 * r + c] = P[4 * r] * local[c] + P[4 * r + 1] * local[4 + c] + P[4 * r + 2] * local[8 + c] + (c === 3 ? P[4 * r + 3] : 0);
        }
      }
      world.push(W);
    }
    for (let j = 0; j < J; j++) {
      const W = world[j], q = joints[j];
      for (let r = 0; r < 3; r++) {
        for (let c = 0; c < 3; c++) T[12 * j + 4 * r + c] = W[4 * r + c];
        T[12 * j + 4 * r + 3] = W[4 * r + 3] - (W[4 * r] * q[0] + W[4 * r + 1] * q[1] + W[4 * r + 2] * q[2]);
      }
    }
    for (let v = 0; v < V; v++) {
      const x = shaped[3 * v], y = shaped[3 * v + 1], z = shaped[3 * v + 2];
      let ox = 0, oy = 0, oz = 0;
      for (let j = 0; j < J; j++) {
        const w = weights[v * J + j];
        if (!w) continue;
        const t = 12 * j;
        ox += w * (T[t] * x + T[t + 1] * y + T[t + 2] * z + T[t + 3]);
        oy += w * (T[t + 4] * x + T[t + 5] * y + T[t + 6] * z + T[t + 7]);
        oz += w * (T[t + 8] * x + T[t + 9] * y + T[t + 10] * z + T[t + 11]);
      }
      out[3 * v] = ox; out[3 * v + 1] = oy; out[3 * v + 2] = oz;
    }
    return out;
  };
}
