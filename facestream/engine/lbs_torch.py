"""Linear blend skinning in torch: the training/export twin of `lbs.py`.

Same functions, same shapes, same numbers (tested to 1e-5). Importing this module needs
torch (the `train` extra); `facestream.engine` never imports it on its own.
"""
from __future__ import annotations

try:
    import torch
except ImportError as e:  # pragma: no cover - depends on the install
    raise ImportError("the torch face layer needs torch: pip install 'facestream[train]'") from e

from .head import Head


def blend_shapes(coeffs: torch.Tensor, dirs: torch.Tensor) -> torch.Tensor:
    """coeffs: B x K; dirs: K x V x 3  ->  B x V x 3."""
    k = dirs.shape[0]
    return (coeffs @ dirs.reshape(k, -1)).reshape(coeffs.shape[0], -1, 3)


def rodrigues(rotvec: torch.Tensor) -> torch.Tensor:
    """rotvec: N x 3 axis-angle  ->  N x 3 x 3 rotation matrices (smooth at zero)."""
    angle = torch.linalg.norm(rotvec, dim=-1, keepdim=True)  # N x 1
    small = angle < 1e-8
    safe = torch.where(small, torch.ones_like(angle), angle)
    a = torch.where(small, torch.ones_like(angle), torch.sin(safe) / safe)[..., None]
    b = torch.where(small, torch.full_like(angle, 0.5), (1 - torch.cos(safe)) / safe**2)[..., None]
    x, y, z = rotvec.unbind(-1)
    zero = torch.zeros_like(x)
    k = torch.stack([zero, -z, y, z, zero, -x, -y, x, zero], dim=-1).reshape(-1, 3, 3)
    eye = torch.eye(3, dtype=rotvec.dtype, device=rotvec.device)[None]
    return eye + a * k + b * (k @ k)


def rigid_transforms(rot: torch.Tensor, joints: torch.Tensor, parents) -> torch.Tensor:
    """rot: B x J x 3 x 3; joints: B x J x 3  ->  B x J x 4 x 4 (relative to the rest pose)."""
    bsz, nj = rot.shape[:2]
    rel = [joints[:, 0]] + [joints[:, j] - joints[:, parents[j]] for j in range(1, nj)]
    rel = torch.stack(rel, dim=1)  # B x J x 3
    top = torch.cat([rot, rel[..., None]], dim=-1)  # B x J x 3 x 4
    bottom = torch.zeros(bsz, nj, 1, 4, dtype=rot.dtype, device=rot.device)
    bottom[..., 3] = 1
    local = torch.cat([top, bottom], dim=-2)  # B x J x 4 x 4
    world = [local[:, 0]]
    for j in range(1, nj):
        world.append(world[parents[j]] @ local[:, j])
    world = torch.stack(world, dim=1)
    posed_rest = torch.einsum("bjik,bjk->bji", world[:, :, :3, :3], joints)
    shift = torch.zeros_like(world)
    shift[:, :, :3, 3] = posed_rest
    return world - shift


def lbs(v_shaped, joints, pose, parents, skin_weights, pose_dirs=None) -> torch.Tensor:
    """v_shaped: B x V x 3; joints: B x J x 3; pose: B x (J*3); skin_weights: V x J;
    pose_dirs: P x V x 3 or None  ->  B x V x 3."""
    bsz, nj = pose.shape[0], joints.shape[1]
    rot = rodrigues(pose.reshape(-1, 3)).reshape(bsz, nj, 3, 3)
    if pose_dirs is not None:
        eye = torch.eye(3, dtype=rot.dtype, device=rot.device)
        v_shaped = v_shaped + blend_shapes((rot[:, 1:] - eye).reshape(bsz, -1), pose_dirs)
    world = rigid_transforms(rot, joints, parents)
    t = torch.einsum("vj,bjk->bvk", skin_weights, world[:, :, :3, :].reshape(bsz, nj, 12))
    t = t.reshape(bsz, -1, 3, 4)
    return torch.einsum("bvik,bvk->bvi", t[..., :3], v_shaped) + t[..., 3]


class TorchHead(torch.nn.Module):
    """A `Head` as a torch module with its arrays as buffers (moves with .to(device)).

    forward(expression B x K, pose B x 15, shape B x S or None) -> B x V x 3.
    """

    def __init__(self, head: Head):
        super().__init__()
        self.name = head.name
        self.parents = tuple(head.parents)
        self.register_buffer("template", torch.as_tensor(head.template, dtype=torch.float32))
        self.register_buffer("expr_dirs", torch.as_tensor(head.expr_dirs, dtype=torch.float32))
        self.register_buffer("joints", torch.as_tensor(head.joints, dtype=torch.float32))
        self.register_buffer("skin_weights", torch.as_tensor(head.skin_weights, dtype=torch.float32))
        for key in ("shape_dirs", "pose_dirs", "joint_regressor"):
            arr = getattr(head, key)
            self.register_buffer(key, None if arr is None else torch.as_tensor(arr, dtype=torch.float32))

    def forward(self, expression: torch.Tensor, pose: torch.Tensor,
                shape: torch.Tensor | None = None) -> torch.Tensor:
        bsz = expression.shape[0]
        v = self.template[None] + blend_shapes(expression, self.expr_dirs)
        if shape is not None:
            if self.shape_dirs is None:
                raise ValueError(f"head {self.name!r} has no identity shape basis")
            v = v + blend_shapes(shape, self.shape_dirs)
        if self.joint_regressor is not None:
            # As FLAME/smplx: joints follow the mesh shaped by identity and expression.
            joints = torch.einsum("jv,bvc->bjc", self.joint_regressor, v)
        else:
            joints = self.joints[None].expand(bsz, -1, -1)
        return lbs(v, joints, pose, self.parents, self.skin_weights, self.pose_dirs)
