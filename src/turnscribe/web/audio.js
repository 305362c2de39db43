// Audio sources for the demo: the microphone and a file streamed at real time, both turned into
// the one format the page asks the server for: 16 kHz mono linear16 in 80 ms binary frames.

export const RATE = 16000;
export const FRAME_SAMPLES = 1280;  // 80 ms at 16 kHz: Flux's recommended chunk (flux-protocol.md §2.3)
export const FRAME_MS = (FRAME_SAMPLES / RATE) * 1000;

// Windowed-sinc low-pass (Blackman), `fc` in cycles per input sample; the taps sum to 1.
function lowpass(fc, n) {
  const taps = new Float32Array(n);
  const m = (n - 1) / 2;
  let sum = 0;
  for (let k = 0; k < n; k++) {
    const x = k - m;
    const sinc = x === 0 ? 2 * fc : Math.sin(2 * Math.PI * fc * x) / (Math.PI * x);
    const w = 0.42 - 0.5 * Math.cos((2 * Math.PI * k) / (n - 1)) + 0.08 * Math.cos((4 * Math.PI * k) / (n - 1));
    taps[k] = sinc * w;
    sum += taps[k];
  }
  for (let k = 0; k < n; k++) taps[k] /= sum;
  return taps;
}

function concat(a, b) {
  const out = new Float32Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

// Streaming resampler to 16 kHz. The microphone runs at the hardware rate (usually 48 kHz): an
// AudioContext at 16 kHz would resample for us in Chrome, but Firefox refuses to connect a
// microphone to a context at another rate, so the page always resamples itself. Downsampling
// low-passes first (else everything above 8 kHz folds back into the speech band), then
// interpolates linearly between the filtered samples.
export class Resampler {
  constructor(inRate, outRate = RATE) {
    this.step = inRate / outRate;
    this.taps = this.step > 1 ? lowpass((0.45 * outRate) / inRate, 63) : null;
    this.firHistory = new Float32Array(this.taps ? this.taps.length - 1 : 0);
    this.pending = new Float32Array(0);  // filtered input not yet passed by the read position
    this.pos = 0;                        // fractional read position into `pending`
  }

  push(input) {
    if (this.step === 1) return input;
    const filtered = this.taps ? this.filter(input) : input;
    const buf = concat(this.pending, filtered);
    const out = [];
    while (this.pos + 1 < buf.length) {
      const i = Math.floor(this.pos);
      const f = this.pos - i;
      out.push(buf[i] * (1 - f) + buf[i + 1] * f);
      this.pos += this.step;
    }
    const keep = Math.min(Math.floor(this.pos), buf.length);
    this.pending = buf.slice(keep);
    this.pos -= keep;
    return Float32Array.from(out);
  }

  filter(input) {
    const taps = this.taps;
    const n = taps.length;
    const buf = concat(this.firHistory, input);
    const out = new Float32Array(input.length);
    for (let i = 0; i < input.length; i++) {
      let s = 0;
      for (let k = 0; k < n; k++) s += taps[k] * buf[i + k];
      out[i] = s;
    }
    this.firHistory = buf.slice(buf.length - (n - 1));
    return out;
  }
}

// Float samples in [-1, 1] as linear16 (little-endian, as Int16Array is on every platform
// browsers run on); `out` is filled from the start and may be longer than `samples`.
export function toInt16(samples, out = new Int16Array(samples.length)) {
  for (let i = 0; i < samples.length; i++) {
    const s = Math.max(-1, Math.min(1, samples[i]));
    out[i] = s < 0 ? s * 0x8000 : s * 0x7fff;
  }
  return out;
}

// Gathers 16 kHz float samples into 80 ms linear16 frames and hands each to `send`.
export class Framer {
  constructor(send) {
    this.send = send;
    this.buf = new Float32Array(FRAME_SAMPLES);
    this.n = 0;
  }

  push(samples) {
    for (let i = 0; i < samples.length; i++) {
      this.buf[this.n++] = samples[i];
      if (this.n === FRAME_SAMPLES) {
        this.send(toInt16(this.buf).buffer);
        this.n = 0;
      }
    }
  }
}

// The microphone as 16 kHz samples for `onSamples`. Echo cancellation, noise suppression and gain
// control are turned off: they are tuned for calls and smear the pauses turn detection listens for.
export async function openMicrophone(onSamples) {
  if (!window.isSecureContext || !navigator.mediaDevices) {
    throw new Error("the microphone needs https or localhost (start the server with --tls-cert, " +
                    "or stream a WAV file instead)");
  }
  const stream = await navigator.mediaDevices.getUserMedia({
    audio: { channelCount: 1, echoCancellation: false, noiseSuppression: false, autoGainControl: false },
  });
  const ctx = new AudioContext();
  await ctx.resume();  // a context made outside a user gesture starts suspended
  const resampler = new Resampler(ctx.sampleRate);
  const source = ctx.createMediaStreamSource(stream);
  const deliver = (block) => onSamples(resampler.push(block));
  let node;
  if (ctx.audioWorklet) {
    await ctx.audioWorklet.addModule(new URL("capture-worklet.js", import.meta.url));
    node = new AudioWorkletNode(ctx, "turnscribe-capture", { numberOfOutputs: 1, outputChannelCount: [1] });
    node.port.onmessage = (e) => deliver(e.data);
  } else {  // older browsers: the deprecated ScriptProcessorNode does the same on the main thread
    node = ctx.createScriptProcessor(4096, 1, 1);
    node.onaudioprocess = (e) => deliver(Float32Array.from(e.inputBuffer.getChannelData(0)));
  }
  source.connect(node);
  node.connect(ctx.destination);  // a node nothing pulls from may never run; its output is silence
  const label = stream.getAudioTracks()[0]?.label || "microphone";
  return {
    label,
    rate: ctx.sampleRate,
    stop() {
      stream.getTracks().forEach((t) => t.stop());
      source.disconnect();
      node.disconnect();
      ctx.close();
    },
  };
}

// Any file the browser can decode (WAV above all), down-mixed to mono and resampled to 16 kHz:
// decodeAudioData resamples to its context's rate, so an offline context at 16 kHz does it all.
export async function decodeFile(file) {
  const bytes = await file.arrayBuffer();
  const ctx = new OfflineAudioContext(1, 1, RATE);
  const buf = await ctx.decodeAudioData(bytes);
  const mono = new Float32Array(buf.length);
  for (let c = 0; c < buf.numberOfChannels; c++) {
    const ch = buf.getChannelData(c);
    for (let i = 0; i < ch.length; i++) mono[i] += ch[i] / buf.numberOfChannels;
  }
  return mono;
}

// Sends `samples` (16 kHz) one 80 ms frame per 80 ms of wall-clock time, as a microphone would,
// then silence until stop(): a turn only ends while audio keeps flowing (CloseStream flushes but
// never ends a turn, §7.4). The schedule follows the clock, not the timer: a late or throttled
// timer (a background tab) sends the frames it owes in one go.
export class RealTimeFeeder {
  constructor(samples, send, onFileEnd) {
    this.samples = samples;
    this.send = send;
    this.onFileEnd = onFileEnd;
    this.sent = 0;          // frames sent, file and silence
    this.fileFrames = Math.ceil(samples.length / FRAME_SAMPLES);
    this.timer = null;
  }

  get silenceSeconds() {
    return Math.max(0, this.sent - this.fileFrames) * (FRAME_MS / 1000);
  }

  start() {
    const t0 = performance.now();
    this.timer = setInterval(() => {
      const due = Math.floor((performance.now() - t0) / FRAME_MS) + 1;
      while (this.timer !== null && this.sent < due) this.next();
    }, 20);
  }

  next() {
    const i = this.sent++;
    const frame = new Int16Array(FRAME_SAMPLES);  // zeros: silence after the file
    if (i < this.fileFrames) toInt16(this.samples.subarray(i * FRAME_SAMPLES, (i + 1) * FRAME_SAMPLES), frame);
    this.send(frame.buffer);
    if (i + 1 === Math.max(this.fileFrames, 1)) this.onFileEnd?.();
  }

  stop() {
    clearInterval(this.timer);
    this.timer = null;
  }
}
