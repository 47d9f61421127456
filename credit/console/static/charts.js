/* Small SVG charts for the console (no library, no CDN): grouped bars by month. */
"use strict";
const Charts = (() => {
  const NS = "http://www.w3.org/2000/svg";
  const COLOURS = ["#0b3d91", "#b42318", "#067647", "#f0b400"];

  function el(name, attrs, text) {
    const node = document.createElementNS(NS, name);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    return node;
  }

  // `months`: labels along x; `series`: [{name, values}] with one value per month. Each
  // month's bars stand side by side; the legend names the series; a table below gives the
  // same numbers for screen readers and printing.
  function bars(container, title, months, series) {
    container.replaceChildren();
    if (!months.length) {
      container.append(Object.assign(document.createElement("p"), { className: "muted",
        textContent: "暂无数据" }));
      return;
    }
    const width = 760, height = 260, left = 70, bottom = 40, top = 30;
    const max = Math.max(1, ...series.flatMap((s) => s.values));
    const slot = (width - left - 10) / months.length;
    const bar = Math.min(36, Math.max(2, (slot * 0.8) / series.length));
    const svg = el("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": title,
                            class: "chart-svg" });
    svg.append(el("title", {}, title));
    const y = (v) => top + (height - top - bottom) * (1 - v / max);
    for (const frac of [0, 0.5, 1]) {
      svg.append(el("line", { x1: left, x2: width - 10, y1: y(max * frac), y2: y(max * frac),
                              stroke: "#d0d7de" }));
      svg.append(el("text", { x: left - 6, y: y(max * frac) + 4, "text-anchor": "end",
                              "font-size": 11 }, Number((max * frac).toFixed(2)).toLocaleString("zh-CN")));
    }
    months.forEach((m, i) => {
      series.forEach((s, j) => {
        const v = s.values[i] || 0;
        const x = left + i * slot + (slot - bar * series.length) / 2 + j * bar;
        svg.append(el("rect", { x, y: y(v), width: bar - 1, height: y(0) - y(v),
                                fill: COLOURS[j % COLOURS.length] },
        ));
        svg.lastChild.append(el("title", {}, `${m} ${s.name}：${v}`));
      });
      svg.append(el("text", { x: left + i * slot + slot / 2, y: height - bottom + 16,
                              "text-anchor": "middle", "font-size": 11 }, m));
    });
    series.forEach((s, j) => {
      svg.append(el("rect", { x: left + j * 110, y: 6, width: 12, height: 12,
                              fill: COLOURS[j % COLOURS.length] }));
      svg.append(el("text", { x: left + j * 110 + 16, y: 16, "font-size": 12 }, s.name));
    });
    const caption = Object.assign(document.createElement("h4"), { textContent: title });
    container.append(caption, svg, table(months, series));
  }

  function table(months, series) {
    const t = document.createElement("table");
    t.className = "data chart-table";
    const head = t.createTHead().insertRow();
    for (const text of ["月份", ...series.map((s) => s.name)]) {
      head.append(Object.assign(document.createElement("th"), { textContent: text }));
    }
    const body = t.createTBody();
    months.forEach((m, i) => {
      const row = body.insertRow();
      for (const text of [m, ...series.map((s) => s.values[i] || 0)]) {
        row.insertCell().textContent = String(text);
      }
    });
    return t;
  }

  return { bars };
})();
