// AudioWorklet: copy each 128-sample block of the microphone to the main thread, nothing else.
class Capture extends AudioWorkletProcessor {
  process(inputs) {
    const ch = inputs[0] && inputs[0][0];
    if (ch) this.port.postMessage(ch.slice(0));
    return true;
  }
}
registerProcessor("facestream-capture", Capture);
