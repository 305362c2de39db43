// The scrolling end_of_turn_confidence timeline, drawn on a <canvas>.
//
// x is audio time (each TurnInfo's audio_window_end), y the confidence 0–1; each turn's latest
// words sit along the bottom at their timestamps, so a rise can be read against the speech. Turn
// events are vertical lines with a label, each kind on its own row above the plot so that
// back-to-back events (EagerEndOfTurn then EndOfTurn in one tick) stay readable. The thresholds are drawn as
// step lines: Configure can move them mid-stream, and the line shows which value was in force when.

export const MARKERS = {
  StartOfTurn: { label: "start", color: "#1b9e4b", row: 0 },
  EagerEndOfTurn: { label: "eager", color: "#e08a00", row: 1 },
  TurnResumed: { label: "resumed", color: "#8a46c8", row: 2 },
  EndOfTurn: { label: "end", color: "#d62f2f", row: 3 },
};
const THRESHOLD_STYLE = {
  eot: { color: "#d62f2f", name: "eot" },
  eager: { color: "#e08a00", name: "eager" },
};
const MAX_POINTS = 4000;  // ~16 minutes of ticks; older ones scroll out of the window long before

export class Timeline {
  constructor(canvas, { windowSeconds = 15 } = {}) {
    this.canvas = canvas;
    this.windowSeconds = windowSeconds;
    this.reset();
    new ResizeObserver(() => this.requestDraw()).observe(canvas);
  }

  reset() {
    this.points = [];      // {t, c}
    this.markers = [];     // {t, event}
    this.thresholds = [];  // {t, eot, eager}: the values in force from t on
    this.words = new Map();  // turn_index -> that turn's latest words [{word, start, end}]
    this.requestDraw();
  }

  addPoint(t, c) {
    this.points.push({ t, c });
    if (this.points.length > MAX_POINTS) this.points.splice(0, this.points.length - MAX_POINTS);
    this.requestDraw();
  }

  addMarker(t, event) {
    if (!(event in MARKERS)) return;
    this.markers.push({ t, event });
    if (this.markers.length > MAX_POINTS) this.markers.shift();
    this.requestDraw();
  }

  setWords(turnIndex, words) {
    this.words.set(turnIndex, words);
    if (this.words.size > 200) this.words.delete(this.words.keys().next().value);
    this.requestDraw();
  }

  setThresholds(t, eot, eager) {
    this.thresholds.push({ t, eot, eager });
    this.requestDraw();
  }

  get latest() {
    return this.points.length ? this.points[this.points.length - 1].t : 0;
  }

  requestDraw() {
    if (this.pending) return;
    this.pending = true;
    requestAnimationFrame(() => {
      this.pending = false;
      this.draw();
    });
  }

  draw() {
    const canvas = this.canvas;
    const dpr = window.devicePixelRatio || 1;
    const cssW = canvas.clientWidth || 600;
    const cssH = canvas.clientHeight || 270;
    if (canvas.width !== Math.round(cssW * dpr) || canvas.height !== Math.round(cssH * dpr)) {
      canvas.width = Math.round(cssW * dpr);
      canvas.height = Math.round(cssH * dpr);
    }
    const g = canvas.getContext("2d");
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, cssW, cssH);

    const rowH = 13;
    // marker label rows on top; under the plot the word strip (2 rows), then the time axis
    const box = { left: 34, right: cssW - 78, top: 4 + rowH * 4 + 4, bottom: cssH - 20 - 26 };
    const t1 = Math.max(this.latest, this.windowSeconds);
    const t0 = t1 - this.windowSeconds;
    const x = (t) => box.left + ((t - t0) / (t1 - t0)) * (box.right - box.left);
    const y = (c) => box.bottom - c * (box.bottom - box.top);
    g.font = "11px system-ui, sans-serif";
    g.textBaseline = "middle";

    this.drawTurns(g, box, x, t0, t1);
    this.drawAxes(g, box, x, y, t0, t1);
    this.drawThresholds(g, box, x, y, t0, t1);
    this.drawWords(g, box, x, t0, t1);

    // the confidence line
    g.save();
    g.beginPath();
    g.rect(box.left, box.top - 1, box.right - box.left, box.bottom - box.top + 2);
    g.clip();
    g.strokeStyle = "#2563eb";
    g.lineWidth = 2;
    g.beginPath();
    let first = true;
    for (const p of this.points) {
      if (p.t < t0 - 1) continue;
      if (first) g.moveTo(x(p.t), y(p.c));
      else g.lineTo(x(p.t), y(p.c));
      first = false;
    }
    g.stroke();
    g.restore();

    // event markers: a line through the plot and a label on the event's row
    for (const m of this.markers) {
      if (m.t < t0 || m.t > t1) continue;
      const style = MARKERS[m.event];
      const mx = x(m.t);
      const rowY = 4 + rowH * style.row + rowH / 2;
      g.strokeStyle = style.color;
      g.lineWidth = m.event === "EndOfTurn" ? 2 : 1.25;
      g.setLineDash(m.event === "EndOfTurn" || m.event === "StartOfTurn" ? [] : [3, 3]);
      g.beginPath();
      g.moveTo(mx, rowY + 5);
      g.lineTo(mx, box.bottom);
      g.stroke();
      g.setLineDash([]);
      g.fillStyle = style.color;
      g.textAlign = "center";
      g.fillText(style.label, Math.min(Math.max(mx, box.left + 18), box.right - 18), rowY);
    }
  }

  // light bands over the stretches where a turn was open (StartOfTurn to EndOfTurn)
  drawTurns(g, box, x, t0, t1) {
    g.fillStyle = "rgba(27, 158, 75, 0.08)";
    let start = null;
    const band = (a, b) => {
      const xa = x(Math.max(a, t0));
      const xb = x(Math.min(b, t1));
      if (xb > xa) g.fillRect(xa, box.top, xb - xa, box.bottom - box.top);
    };
    for (const m of this.markers) {
      if (m.event === "StartOfTurn") start = m.t;
      else if (m.event === "EndOfTurn" && start !== null) {
        band(start, m.t);
        start = null;
      }
    }
    if (start !== null) band(start, this.latest);
  }

  // the words in a strip under the plot: a bar over each word's span, its text below on one of
  // two rows; a word whose text would run into its row's previous one is left out (the
  // transcript has them all)
  drawWords(g, box, x, t0, t1) {
    g.save();
    g.font = "10px system-ui, sans-serif";
    g.textAlign = "left";
    const rowEnds = [-Infinity, -Infinity];
    for (const words of this.words.values()) {
      for (const w of words) {
        if (w.end < t0 || w.start > t1) continue;
        const xa = x(Math.max(w.start, t0));
        const xb = x(Math.min(w.end, t1));
        g.fillStyle = "rgba(71, 84, 103, 0.5)";
        g.fillRect(xa, box.bottom + 2, Math.max(1, xb - xa - 1), 3);
        const width = g.measureText(w.word).width;
        const row = rowEnds[0] <= xa ? 0 : rowEnds[1] <= xa ? 1 : -1;
        if (row < 0 || xa + width > box.right + 60) continue;
        g.fillStyle = "#475467";
        g.fillText(w.word, xa, box.bottom + 12 + row * 11);
        rowEnds[row] = xa + width + 4;
      }
    }
    g.restore();
  }

  drawAxes(g, box, x, y, t0, t1) {
    g.strokeStyle = "#d0d4da";
    g.fillStyle = "#667085";
    g.lineWidth = 1;
    g.textAlign = "right";
    for (const c of [0, 0.25, 0.5, 0.75, 1]) {
      g.beginPath();
      g.moveTo(box.left, y(c));
      g.lineTo(box.right, y(c));
      g.stroke();
      g.fillText(c.toFixed(c % 0.5 ? 2 : 1), box.left - 4, y(c));
    }
    const span = t1 - t0;
    const step = span > 40 ? 10 : span > 16 ? 2 : 1;
    g.textAlign = "center";
    for (let t = Math.ceil(t0 / step) * step; t <= t1; t += step) {
      g.fillText(`${t}s`, x(t), box.bottom + 36);
    }
  }

  drawThresholds(g, box, x, y, t0, t1) {
    for (const [key, style] of Object.entries(THRESHOLD_STYLE)) {
      g.strokeStyle = style.color;
      g.lineWidth = 1.5;
      g.setLineDash([6, 4]);
      let last = null;
      for (let i = 0; i < this.thresholds.length; i++) {
        const seg = this.thresholds[i];
        const end = i + 1 < this.thresholds.length ? this.thresholds[i + 1].t : t1;
        const value = seg[key];
        if (value === null || value === undefined || end < t0) continue;
        g.beginPath();
        g.moveTo(x(Math.max(seg.t, t0)), y(value));
        g.lineTo(x(Math.min(end, t1)), y(value));
        g.stroke();
        last = value;
      }
      g.setLineDash([]);
      if (last !== null) {
        g.fillStyle = style.color;
        g.textAlign = "left";
        g.fillText(`${style.name} ${last.toFixed(2)}`, box.right + 4, y(last));
      }
    }
  }
}
