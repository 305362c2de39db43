// Stream a WAV file to turnscribe with the official Deepgram JavaScript SDK (Flux / listen v2).
//
//   npm ci
//   node flux.mjs --url ws://127.0.0.1:8000 recording.wav
//
// A Deepgram Flux app changes one thing to use turnscribe: the client's baseUrl.
// Prints one "EndOfTurn: <transcript>" line per finished turn.

import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { setTimeout as sleep } from "node:timers/promises";
import { DeepgramClient } from "@deepgram/sdk";

const CHUNK_S = 0.08; // 80 ms of audio per message, as Deepgram recommends for Flux

const { values: opts, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    url: { type: "string", default: process.env.TURNSCRIBE_URL || "ws://127.0.0.1:8000" },
    speed: { type: "string", default: "1" }, // send at this multiple of real time
    tail: { type: "string", default: "6" }, // most seconds of silence sent after the file
  },
});
if (positionals.length !== 1) {
  console.error("usage: node flux.mjs [--url ws://host:port] [--speed 1] [--tail 6] FILE.wav");
  process.exit(2);
}

/** PCM16 mono samples and sample rate of a WAV file. */
function readWav(path) {
  const buf = readFileSync(path);
  if (buf.toString("ascii", 0, 4) !== "RIFF" || buf.toString("ascii", 8, 12) !== "WAVE") {
    throw new Error(`${path}: not a WAV file`);
  }
  let rate, pcm;
  for (let off = 12; off + 8 <= buf.length; ) {
    const id = buf.toString("ascii", off, off + 4);
    const size = buf.readUInt32LE(off + 4);
    if (id === "fmt ") {
      const [format, channels, bits] = [buf.readUInt16LE(off + 8), buf.readUInt16LE(off + 10), buf.readUInt16LE(off + 22)];
      if (format !== 1 || channels !== 1 || bits !== 16) throw new Error(`${path}: need a 16-bit mono PCM WAV`);
      rate = buf.readUInt32LE(off + 12);
    } else if (id === "data") {
      pcm = buf.subarray(off + 8, off + 8 + size);
    }
    off += 8 + size + (size % 2);
  }
  if (!rate || !pcm) throw new Error(`${path}: no fmt or data chunk`);
  return { pcm, rate };
}

const { pcm, rate } = readWav(positionals[0]);
const speed = Number(opts.speed);
const tailS = Number(opts.tail);

// An open server accepts any key; one started with API keys needs one of them.
const apiKey = process.env.TURNSCRIBE_API_KEY || process.env.DEEPGRAM_API_KEY || "none";
const client = new DeepgramClient({ apiKey, baseUrl: opts.url.replace(/^http/, "ws") });

const conn = await client.listen.v2.connect({ model: "flux-general-en", encoding: "linear16", sample_rate: rate });

let turns = 0;
let turnDone = false;
conn.on("message", (msg) => {
  if (msg.type === "Connected") {
    console.log(`Connected: ${msg.request_id}`);
  } else if (msg.type === "TurnInfo" && msg.event === "StartOfTurn") {
    turnDone = false;
  } else if (msg.type === "TurnInfo" && msg.event === "EndOfTurn") {
    turns += 1;
    turnDone = true;
    console.log(`EndOfTurn: ${msg.transcript}`);
  } else if (msg.type === "Warning" || msg.type === "Error") {
    console.error(`${msg.type}: ${msg.code}: ${msg.description}`);
  }
});
const closed = new Promise((resolve) => conn.on("close", resolve));
conn.on("error", (err) => console.error("socket error:", err?.message ?? err));

conn.connect();
try {
  await conn.waitForOpen();
} catch (err) {
  console.error(`could not connect to ${opts.url}: ${err?.message ?? err}`); // e.g. 401: wrong API key
  process.exit(1);
}

// The recording in 80 ms chunks at `speed` x real time, then silence (an open microphone)
// until the last turn has ended (at most `tail` seconds), then CloseStream.
const step = Math.round(rate * CHUNK_S) * 2;
const silence = Buffer.alloc(step);
const start = performance.now();
let sentS = 0;
for (let off = 0; off < pcm.length + tailS * rate * 2; off += step) {
  if (off >= pcm.length && turnDone) break;
  conn.sendMedia(off < pcm.length ? pcm.subarray(off, off + step) : silence);
  sentS += CHUNK_S;
  await sleep(Math.max(0, start + (sentS / speed) * 1000 - performance.now()));
}
conn.sendCloseStream({ type: "CloseStream" });

await closed; // the server closes the stream once it has answered everything sent
if (turns === 0) {
  console.error("no EndOfTurn received");
  process.exit(1);
}
process.exit(0);
