// AudioWorklet: the microphone at the context's rate -> mono at the model's rate (16 kHz, given
// as processorOptions.rate), posted to the main thread in blocks of processorOptions.block
// samples. A streaming windowed-sinc low-pass resampler (Blackman window, 16 zero crossings
// a side at the output rate): each output waits for 1 ms of input after it (latency, no
// shift; equal to soxr to 1e-5: tests/test_web_model.py). Nothing else runs here: no
// inference, no I/O, one small working buffer per 128-sample render quantum.
class Capture16k extends AudioWorkletProcessor {
  constructor(options) {
    super();
    const { rate, block } = options.processorOptions;
    this.ratio = sampleRate / rate;  // input samples per output sample
    this.cut = Math.min(1, 1 / this.ratio);  // low-pass at the lower Nyquist
    this.half = Math.ceil(16 * Math.max(1, this.ratio));  // kernel half-width, input samples
    this.hist = new Float32Array(0);  // input not yet consumed, from index `base`
    this.pos = 0;  // position of the next output sample in `hist` (input samples)
    this.out = new Float32Array(block); this.n = 0;
  }
  kernel(d) {
    if (Math.abs(d) >= this.half) return 0;
    const x = d * this.cut, sinc = x === 0 ? 1 : Math.sin(Math.PI * x) / (Math.PI * x);
    const u = (d / this.half + 1) / 2;  // 0..1 across the window
    return this.cut * sinc * (0.42 - 0.5 * Math.cos(2 * Math.PI * u) + 0.08 * Math.cos(4 * Math.PI * u));
  }
  push(y) {
    this.out[this.n++] = y;
    if (this.n === this.out.length) { this.port.postMessage(this.out); this.out = new Float32Array(this.out.length); this.n = 0; }
  }
  process(inputs) {
    const ch = inputs[0] && inputs[0][0];
    if (!ch) return true;
    if (this.ratio === 1) { for (const x of ch) this.push(x); return true; }
    const h = new Float32Array(this.hist.length + ch.length);
    h.set(this.hist); h.set(ch, this.hist.length);
    // The first output sample is centred on the first input sample (the history before it is silence).
    while (this.pos + this.half < h.length) {
      const lo = Math.max(0, Math.ceil(this.pos - this.half)), hi = Math.floor(this.pos + this.half);
      let acc = 0, norm = 0;
      for (let j = lo; j <= hi; j++) { const k = this.kernel(j - this.pos); acc += k * h[j]; norm += k; }
      this.push(norm > 0 ? acc / norm : 0);  // unit gain at DC
      this.pos += this.ratio;
    }
    const drop = Math.max(0, Math.floor(this.pos - this.half));
    this.hist = h.slice(drop); this.pos -= drop;
    return true;
  }
}
registerProcessor("facestream-capture-16k", Capture16k);
