// AudioWorklet processor: hands the microphone's samples (mono, at the AudioContext's rate) to the
// page in blocks of BLOCK samples. process() gets 128 frames at a time; posting each of those would
// be ~375 messages a second at 48 kHz, so they are gathered first.
const BLOCK = 1024;

class TurnscribeCapture extends AudioWorkletProcessor {
  constructor() {
    super();
    this.buf = new Float32Array(BLOCK);
    this.n = 0;
  }

  process(inputs) {
    const channels = inputs[0];
    if (channels && channels.length) {
      const len = channels[0].length;
      for (let i = 0; i < len; i++) {
        let s = 0;
        for (let c = 0; c < channels.length; c++) s += channels[c][i];
        this.buf[this.n++] = s / channels.length;  // down-mix: Flux streams are mono
        if (this.n === BLOCK) {
          this.port.postMessage(this.buf, [this.buf.buffer]);
          this.buf = new Float32Array(BLOCK);
          this.n = 0;
        }
      }
    }
    return true;  // keep running while the microphone is connected
  }
}

registerProcessor("turnscribe-capture", TurnscribeCapture);
