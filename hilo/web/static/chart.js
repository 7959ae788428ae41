// Small charts drawn as inline SVG: bars (with an optional line on a second axis) and lines.
// Each chart is an image with a text summary for screen readers; each bar and point has a title.
"use strict";

const Charts = (() => {
  const NS = "http://www.w3.org/2000/svg";
  const W = 720, PAD = { top: 14, right: 52, bottom: 34, left: 62 };

  function node(tag, attrs = {}, text) {
    const n = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs)) if (v !== undefined && v !== null) n.setAttribute(k, v);
    if (text !== undefined) n.textContent = text;
    return n;
  }

  // The top of an axis from zero with four equal steps, each a round number (1, 2, 2.5, 5 x 10^n;
  // whole numbers for counts).
  function nice(max, whole = false) {
    if (!(max > 0)) return 4;
    const quarter = max / 4;
    const power = Math.pow(10, Math.floor(Math.log10(quarter)));
    for (const m of whole && power < 10 ? [1, 2, 5, 10] : [1, 2, 2.5, 5, 10]) {
      const step = Math.max(whole ? 1 : 0, m * power);
      if (step >= quarter) return 4 * step;
    }
    return 40 * power;
  }

  function range(values) {
    const finite = values.filter((v) => Number.isFinite(v));
    let lo = Math.min(...finite), hi = Math.max(...finite);
    if (!finite.length) { lo = 0; hi = 1; }
    if (lo === hi) { lo -= Math.abs(lo) * 0.05 || 1; hi += Math.abs(hi) * 0.05 || 1; }
    const pad = (hi - lo) * 0.06;
    return [lo - pad, hi + pad];
  }

  function frame(height, label) {
    const svg = node("svg", { class: "chart", viewBox: `0 0 ${W} ${height}`, role: "img", "aria-label": label });
    svg.append(node("title", {}, label));
    return svg;
  }

  function xLabels(svg, labels, x, height, every) {
    const g = node("g", { class: "axis x" });
    labels.forEach((label, i) => {
      const last = i === labels.length - 1;
      if (i % every !== 0 && !(last && (labels.length - 1) % every >= every / 2)) return;
      g.append(node("text", { x: x(i), y: height - PAD.bottom + 16, "text-anchor": "middle" }, label));
    });
    svg.append(g);
  }

  function yAxis(svg, lo, hi, y, format, side, height) {
    const g = node("g", { class: side === "left" ? "grid" : "axis y2" });
    for (let k = 0; k <= 4; k++) {
      const v = lo + (hi - lo) * k / 4;
      const yy = y(v);
      if (side === "left") g.append(node("line", { x1: PAD.left, x2: W - PAD.right, y1: yy, y2: yy }));
      g.append(node("text", { x: side === "left" ? PAD.left - 6 : W - PAD.right + 6, y: yy + 4,
        "text-anchor": side === "left" ? "end" : "start" }, format(v)));
    }
    svg.append(g);
  }

  // bars({labels, values, format, line: {values, format, name}, name, height})
  function bars(opts) {
    const { labels, values, format = String, height = 240, name = "", line } = opts;
    const svg = frame(height, opts.label || name);
    const n = Math.max(1, values.length);
    const top = nice(Math.max(0, ...values));
    const inner = W - PAD.left - PAD.right;
    const slot = inner / n;
    const x = (i) => PAD.left + slot * (i + 0.5);
    const y = (v) => height - PAD.bottom - (v / top) * (height - PAD.top - PAD.bottom);
    yAxis(svg, 0, top, y, format, "left", height);
    const g = node("g", { class: "bars" });
    values.forEach((v, i) => {
      const h = Math.max(0, y(0) - y(v));
      const rect = node("rect", { class: "bar", x: x(i) - slot * 0.36, width: Math.max(1, slot * 0.72), y: y(0) - h, height: h,
        "data-label": labels[i], "data-value": v });
      rect.append(node("title", {}, `${labels[i]}: ${format(v)}`));
      g.append(rect);
    });
    svg.append(g);
    if (line && line.values.length) {
      const lt = nice(Math.max(0, ...line.values), line.values.every(Number.isInteger));
      const ly = (v) => height - PAD.bottom - (v / lt) * (height - PAD.top - PAD.bottom);
      yAxis(svg, 0, lt, ly, line.format || String, "right", height);
      const d = line.values.map((v, i) => `${i ? "L" : "M"}${x(i).toFixed(1)},${ly(v).toFixed(1)}`).join("");
      svg.append(node("path", { class: "line alt", d }));
      line.values.forEach((v, i) => {
        const c = node("circle", { class: "dot alt", cx: x(i), cy: ly(v), r: 2.5, "data-value": v });
        c.append(node("title", {}, `${labels[i]}: ${(line.format || String)(v)} ${line.name || ""}`));
        svg.append(c);
      });
    }
    xLabels(svg, labels, x, height, Math.ceil(n / 8));
    return svg;
  }

  // lines({labels, series: [{name, values, cls}], format, height, zero})
  function lines(opts) {
    const { labels, series, format = String, height = 240 } = opts;
    const svg = frame(height, opts.label || series.map((s) => s.name).join(", "));
    const all = series.flatMap((s) => s.values);
    const [lo, hi] = range(all);
    const n = Math.max(2, labels.length);
    const x = (i) => PAD.left + (W - PAD.left - PAD.right) * i / (n - 1);
    const y = (v) => height - PAD.bottom - ((v - lo) / (hi - lo)) * (height - PAD.top - PAD.bottom);
    yAxis(svg, lo, hi, y, format, "left", height);
    series.forEach((s, k) => {
      const d = s.values.map((v, i) => Number.isFinite(v) ? `${i && Number.isFinite(s.values[i - 1]) ? "L" : "M"}${x(i).toFixed(1)},${y(v).toFixed(1)}` : "").join("");
      const path = node("path", { class: `line ${s.cls || (k ? "alt" : "")}`, d, "data-series": s.name });
      path.append(node("title", {}, s.name));
      svg.append(path);
    });
    xLabels(svg, labels, x, height, Math.ceil(n / 6));
    return svg;
  }

  function legend(items) {
    const box = document.createElement("div");
    box.className = "legend";
    items.forEach(([name, cls]) => {
      const span = document.createElement("span");
      const swatch = document.createElement("span");
      swatch.className = `swatch ${cls || ""}`;
      span.append(swatch, name);
      box.append(span);
    });
    return box;
  }

  return { bars, lines, legend };
})();
