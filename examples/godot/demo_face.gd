# A stand-in face: a flat grid with one blend shape per ARKit name, so the example runs with
# nothing imported. Replace the Face node's mesh with your own (a glTF whose shape keys carry
# the 52 ARKit names, e.g. a Perfect Sync / ARKit-ready avatar) and delete this script.
extends MeshInstance

const SIZE := 0.2  # metres across
const STEPS := 10  # grid cells per side


# Called by facestream_client.gd with the hello's `arkit_names` (the server is the one
# source of the names and their order).
func ensure_shapes(names: Array) -> void:
	if mesh != null:
		return
	var base := _grid_vertices()
	var normals := PoolVector3Array()
	for _v in base:
		normals.append(Vector3(0, 0, 1))
	var arrays := []
	arrays.resize(Mesh.ARRAY_MAX)
	arrays[Mesh.ARRAY_VERTEX] = base
	arrays[Mesh.ARRAY_NORMAL] = normals
	arrays[Mesh.ARRAY_INDEX] = _grid_indices()
	var shapes := []
	var m := ArrayMesh.new()
	m.blend_shape_mode = Mesh.BLEND_SHAPE_MODE_RELATIVE
	for i in range(names.size()):
		m.add_blend_shape(names[i])
		var shape := []
		shape.resize(Mesh.ARRAY_MAX)
		shape[Mesh.ARRAY_VERTEX] = _offsets(base, names[i], i)
		shape[Mesh.ARRAY_NORMAL] = normals
		shapes.append(shape)
	m.add_surface_from_arrays(Mesh.PRIMITIVE_TRIANGLES, arrays, shapes)
	mesh = m


func _grid_vertices() -> PoolVector3Array:
	var v := PoolVector3Array()
	for y in range(STEPS + 1):
		for x in range(STEPS + 1):
			v.append(Vector3((float(x) / STEPS - 0.5) * SIZE, (float(y) / STEPS - 0.5) * SIZE, 0))
	return v


func _grid_indices() -> PoolIntArray:
	var idx := PoolIntArray()
	for y in range(STEPS):
		for x in range(STEPS):
			var a := y * (STEPS + 1) + x
			idx.append_array([a, a + 1, a + STEPS + 1, a + 1, a + STEPS + 2, a + STEPS + 1])
	return idx


# Crude but visible: jawOpen drops the lower half, blinks close the upper third, the rest
# nudge a small patch each, so every weight changes the mesh.
func _offsets(base: PoolVector3Array, name: String, i: int) -> PoolVector3Array:
	var out := PoolVector3Array()
	for p in base:
		var d := Vector3.ZERO
		if name == "jawOpen" and p.y < 0:
			d.y = p.y * 0.6
		elif name.begins_with("eyeBlink") and p.y > SIZE / 6 and (p.x > 0) == name.ends_with("Left"):
			d.y = -SIZE / 8
		elif int(abs(p.x * 1000 + p.y * 700)) % 52 == i:
			d.z = 0.01
		out.append(d)
	return out
