# facestream's websocket protocol (docs/protocol.md, version 2) in GDScript for Godot 3.
#
# Connects to `facestream serve`, sends a 16-bit PCM WAV's audio in real time (as a
# microphone would), receives ARKit face frames and applies each one to `target`'s blend
# shapes by name when its audio timestamp comes due. Without an audio file it only watches
# (e.g. url = ws://HOST:PORT/ws?session=mic with `facestream serve --mic`).
#
#   facestream serve &
#   FACESTREAM_URL=ws://127.0.0.1:8765/ws FACESTREAM_AUDIO=/abs/path/speech.wav \
#       FACESTREAM_QUIT=1 godot3-server --path examples/godot
#
# Every received and applied frame is printed ("facestream: received ...", "applied ..."),
# which is what tests/test_godot.py reads.
extends Node

export var url := "ws://127.0.0.1:8765/ws"
export var audio_path := ""  # a 16-bit PCM WAV to send; empty: only receive
export(NodePath) var target := NodePath("../Face")  # a MeshInstance with ARKit-named shapes
export var buffer_s := 0.1  # jitter buffer on top of the server's latency_ms
export var quit_when_done := false  # quit once the stream has ended and played (headless runs)

const CHUNK_S := 0.02  # audio sent per message, as a microphone callback would
const HEADER_BYTES := 48

var _ws := WebSocketClient.new()
var _mesh: MeshInstance
var _slots := {}  # index in arkit_names -> "blend_shapes/<name>" the mesh has
var _pending := []  # received frames waiting for their time: [seq, timestamp, weights]
var _jaw := -1  # index of jawOpen (for the log lines)
var _latency_s := 0.0
var _clock_start := -1  # ticks (usec) at audio time 0
var _wav := {}
var _sent_bytes := 0
var _ended := false
var _received := 0
var _applied := 0


func _ready() -> void:
	url = OS.get_environment("FACESTREAM_URL") if OS.has_environment("FACESTREAM_URL") else url
	if OS.has_environment("FACESTREAM_AUDIO"):
		audio_path = OS.get_environment("FACESTREAM_AUDIO")
	quit_when_done = quit_when_done or OS.get_environment("FACESTREAM_QUIT") == "1"
	_mesh = get_node(target) as MeshInstance
	if audio_path != "":
		_wav = _read_wav(audio_path)
		if _wav.empty():
			_fail("cannot use %s: a 16-bit PCM WAV is needed" % audio_path)
			return
	_ws.connect("connection_established", self, "_on_connected")
	_ws.connect("connection_error", self, "_fail", ["cannot connect to %s" % url])
	_ws.connect("connection_closed", self, "_on_closed")
	var err := _ws.connect_to_url(url)
	if err != OK:
		_fail("bad url %s (error %d)" % [url, err])


func _process(_delta: float) -> void:
	_ws.poll()
	if _ws.get_connection_status() != NetworkedMultiplayerPeer.CONNECTION_CONNECTED:
		return
	var peer := _ws.get_peer(1)
	while peer.get_available_packet_count() > 0:
		var packet := peer.get_packet()
		if peer.was_string_packet():
			_on_message(JSON.parse(packet.get_string_from_utf8()).result)
		else:
			_on_frame(packet)
	_send_audio_due()
	_apply_due()
	if _ended and _pending.empty() and quit_when_done:
		_finish(0)


func _on_connected(_protocol: String) -> void:
	_send_json({"type": "subscribe", "formats": ["arkit"]})
	if not _wav.empty():
		_send_json({"type": "start", "sample_rate": _wav.rate, "format": "s16le",
					"channels": _wav.channels})


func _on_message(m) -> void:
	if typeof(m) != TYPE_DICTIONARY:
		return
	match m.get("type"):
		"hello":
			_latency_s = m.latency_ms / 1000.0
			var names: Array = m.arkit_names
			if _mesh.has_method("ensure_shapes"):
				_mesh.ensure_shapes(names)
			var present := {}
			if _mesh.mesh is ArrayMesh:
				for i in range(_mesh.mesh.get_blend_shape_count()):
					present[_mesh.mesh.get_blend_shape_name(i)] = true
			for i in range(names.size()):
				if present.has(names[i]):
					_slots[i] = "blend_shapes/" + names[i]
			_jaw = names.find("jawOpen")
			print("facestream: hello protocol=%d session=%s latency_ms=%.1f shapes=%d/%d"
					% [m.protocol, m.session, m.latency_ms, _slots.size(), names.size()])
		"ended":
			_ended = true
			print("facestream: ended frames=%d" % m.frames)
		"error":
			print("facestream: server error %s: %s" % [m.name, m.message])


func _on_frame(packet: PoolByteArray) -> void:
	if packet.size() < HEADER_BYTES or packet.subarray(0, 3).get_string_from_ascii() != "FSTR":
		return
	var b := StreamPeerBuffer.new()
	b.data_array = packet
	b.big_endian = false  # the protocol is little-endian
	b.seek(8)
	var seq := b.get_u32()
	b.seek(16)
	var timestamp := b.get_double()
	b.seek(40)
	var n_arkit := b.get_u16()
	b.seek(HEADER_BYTES)
	var weights := PoolRealArray()
	for _i in range(n_arkit):
		weights.append(b.get_float())
	if _clock_start < 0:  # watching someone else's audio: start the clock at this frame
		_clock_start = OS.get_ticks_usec() - int((timestamp + _latency_s) * 1e6)
	_pending.append([seq, timestamp, weights])
	_received += 1
	print("facestream: received seq=%d t=%.3f jawOpen=%.4f" % [seq, timestamp, weights[_jaw]])


# The face at audio time t needs audio up to t + latency, so it is shown latency + buffer
# after that audio was sent. Frames whose time has passed while a later one is due are
# skipped, never shown late.
func _apply_due() -> void:
	if _clock_start < 0 or _pending.empty():
		return
	var now := (OS.get_ticks_usec() - _clock_start) / 1e6 - _latency_s - buffer_s
	var due = null
	while not _pending.empty() and _pending[0][1] <= now:
		due = _pending.pop_front()
	if due == null:
		return
	var w: PoolRealArray = due[2]
	for i in _slots:
		_mesh.set(_slots[i], w[i])
	_applied += 1
	print("facestream: applied seq=%d t=%.3f clock=%.3f jawOpen=%.4f mesh_jawOpen=%.4f"
			% [due[0], due[1], now, w[_jaw], _mesh.get("blend_shapes/jawOpen")])


func _send_audio_due() -> void:
	if _wav.empty() or _sent_bytes < 0:
		return
	var frame_bytes: int = 2 * _wav.channels
	var chunk := int(CHUNK_S * _wav.rate) * frame_bytes
	if _clock_start < 0:
		_clock_start = OS.get_ticks_usec()
	var due := int((OS.get_ticks_usec() - _clock_start) / 1e6 * _wav.rate) * frame_bytes
	var pcm: PoolByteArray = _wav.pcm
	var peer := _ws.get_peer(1)
	peer.set_write_mode(WebSocketPeer.WRITE_MODE_BINARY)
	while _sent_bytes < pcm.size() and _sent_bytes <= due:
		var end: int = int(min(_sent_bytes + chunk, pcm.size()))
		peer.put_packet(pcm.subarray(_sent_bytes, end - 1))
		_sent_bytes = end
	if _sent_bytes >= pcm.size():
		_send_json({"type": "end"})
		_sent_bytes = -1  # done


func _send_json(m: Dictionary) -> void:
	var peer := _ws.get_peer(1)
	peer.set_write_mode(WebSocketPeer.WRITE_MODE_TEXT)
	peer.put_packet(JSON.print(m).to_utf8())


# -> {rate, channels, pcm} of a 16-bit PCM WAV, or {} when it is not one.
func _read_wav(path: String) -> Dictionary:
	var f := File.new()
	if f.open(path, File.READ) != OK:
		return {}
	var data := f.get_buffer(f.get_len())
	f.close()
	if data.size() < 12 or data.subarray(0, 3).get_string_from_ascii() != "RIFF":
		return {}
	var b := StreamPeerBuffer.new()
	b.data_array = data
	b.big_endian = false
	var info := {}
	var pos := 12
	while pos + 8 <= data.size():
		var id := data.subarray(pos, pos + 3).get_string_from_ascii()
		b.seek(pos + 4)
		var size := b.get_u32()
		if id == "fmt ":
			var fmt := b.get_u16()
			info.channels = b.get_u16()
			info.rate = b.get_u32()
			b.seek(pos + 22)
			if fmt != 1 or b.get_u16() != 16:
				return {}
		elif id == "data" and info.has("rate"):
			info.pcm = data.subarray(pos + 8, int(min(pos + 8 + size, data.size())) - 1)
			return info
		pos += 8 + size + (size & 1)
	return {}


func _on_closed(_clean: bool) -> void:
	if quit_when_done:
		_finish(0 if _ended else 1)


func _fail(why: String) -> void:
	printerr("facestream: " + why)
	if quit_when_done:
		_finish(1)


func _finish(code: int) -> void:
	print("facestream: done received=%d applied=%d" % [_received, _applied])
	_ws.disconnect_from_host()
	get_tree().quit(code)
