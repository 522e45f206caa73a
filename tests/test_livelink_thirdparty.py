"""Our Live Link Face packets decoded by a third party: pylivelinkface (PyPI), not our parser."""
import socket

import numpy as np
import pytest

pylivelinkface = pytest.importorskip("pylivelinkface",
                                     reason="pylivelinkface comes with the `dev` extra")

from facestream.engine.stream import Engine  # noqa: E402
from facestream.server import livelink  # noqa: E402

# pylivelinkface reads the device id as a fixed 37 bytes after the version: the last byte of
# the length (36 = '$') and the iPhone app's 36-character UUID. Send an id of that length.
DEVICE_ID = "0123abcd-4567-89ef-0123-456789abcdef"


def test_pylivelinkface_decodes_every_value():
    assert len(DEVICE_ID) == 36
    from facestream.formats import read_audio
    from facestream.viewer.video import example_clip_path
    engine = Engine()
    x, sr = read_audio(example_clip_path())
    st = engine.create_stream(behaviour={"blink_rate": 60}, seed=1)
    st.accept_waveform(sr, x[:2 * sr])
    st.input_finished()
    frames = engine.decode_stream(st)
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind(("127.0.0.1", 0))
    rx.settimeout(5)
    sender = livelink.LiveLinkSender(f"127.0.0.1:{rx.getsockname()[1]}", fps=30,
                                     device_id=DEVICE_ID)
    decoded = []
    for f in frames:
        sender.send("session-7", f)
        ok, face = pylivelinkface.PyLiveLinkFace.decode(rx.recv(4096))
        assert ok
        decoded.append(face)
    sender.close()
    rx.close()
    shapes = pylivelinkface.FaceBlendShape
    moved = set()
    for f, face in zip(frames, decoded):
        assert face.name == "session-7" and face.uuid == "$" + DEVICE_ID
        assert face._frames == f.seq and face.fps == 30
        for name, i in zip(livelink.UNREAL_ARKIT_ORDER, livelink.UNREAL_INDEX):
            value = face.get_blendshape(shapes[name[0].upper() + name[1:]])
            assert value == pytest.approx(float(f.arkit[i]), abs=1e-7), name
            if value > 0.1:
                moved.add(name)
        rot = [face.get_blendshape(shapes[n]) for n in livelink.ROTATION_NAMES]
        want = [f.neck_pose[1], f.neck_pose[0], f.neck_pose[2], f.eye_pose[1], f.eye_pose[0],
                f.eye_pose[2], f.eye_pose[4], f.eye_pose[3], f.eye_pose[5]]
        np.testing.assert_allclose(rot, want, atol=1e-7)
    assert {"jawOpen", "eyeBlinkLeft"} <= moved  # the take really talks and blinks
