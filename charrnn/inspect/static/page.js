// The inspect report: reads the JSON in #data and builds the page (colour.js colours the text).
(async function () {
  "use strict";
  const C = globalThis.charrnnColour;
  const data = JSON.parse(document.getElementById("data").textContent);
  const $ = id => document.getElementById(id);
  const tip = $("tip"), controls = $("controls");
  document.title = data.title;
  $("title").textContent = data.title;
  $("notes").textContent = (data.notes || []).join(" · ");

  function element(tag, text, parent) {
    const made = document.createElement(tag);
    if (text !== undefined) made.textContent = text;
    if (parent) parent.appendChild(made);
    return made;
  }

  function showTip(event, build) {
    tip.replaceChildren();
    build(tip);
    tip.hidden = false;
    tip.style.left = Math.min(event.clientX + 12, innerWidth - tip.offsetWidth - 8) + "px";
    tip.style.top = event.clientY + 16 + "px";
  }

  function tables(list) {
    for (const t of list || []) {
      element("h2", t.title, $("tables"));
      const table = element("table", undefined, $("tables")), head = element("tr", undefined, table);
      t.columns.forEach(c => element("th", c, head));
      for (const row of t.rows) {
        const tr = element("tr", undefined, table);
        row.forEach(cell => element("td", typeof cell === "number" && !Number.isInteger(cell) ? cell.toFixed(4) : String(cell), tr));
      }
    }
  }

  function choice(label, options, onChange) {
    const wrap = element("label", label + " ", controls), select = element("select", undefined, wrap);
    options.forEach((o, i) => { const opt = element("option", o, select); opt.value = i; });
    select.addEventListener("change", () => onChange(Number(select.value)));
    return select;
  }

  // score: colour by rank bucket or surprisal; hover shows the model's top guesses
  function score(s, spans) {
    const byRank = s.bucket.map(b => b === null ? null : s.bucket_colours[b]);
    const bySurprisal = s.logprob.map(lp => lp === null ? null : C.surprisalColour(lp, s.vocab.length));
    const modes = [byRank, bySurprisal];
    choice("colour by", ["rank bucket (" + s.bucket_labels.join(", ") + ")", "surprisal"], m => C.paint(spans, modes[m]));
    C.paint(spans, byRank);
    $("text").addEventListener("mousemove", event => {
      const i = event.target.dataset.i;
      if (i === undefined || s.logprob[i] === null) { tip.hidden = true; return; }
      showTip(event, box => {
        element("div", JSON.stringify(data.symbols[i]) + "  " + (-s.logprob[i]).toFixed(3) + " nats, rank " + s.rank[i], box);
        s.top_ids[i].forEach((id, k) => {
          const line = element("div", JSON.stringify(s.vocab[id]).padEnd(6) + s.top_probs[i][k].toFixed(3) + " ", box);
          element("span", undefined, line).className = "bar";
          line.lastChild.style.width = (60 * s.top_probs[i][k]) + "px";
        });
      });
    });
    $("text").addEventListener("mouseleave", () => { tip.hidden = true; });
  }

  // units: a picker (and the arrow keys) recolours the text from the stored values
  async function units(u, spans) {
    const bytes = await C.inflate(u.values), T = spans.length;
    let current = 0, values = null;
    const select = choice("unit", u.units.map(x => x.name), show);
    function show(j) {
      current = Math.max(0, Math.min(u.units.length - 1, j));
      select.value = current;
      const unit = u.units[current];
      values = C.dequantise(bytes.subarray(current * T, (current + 1) * T), unit.lo, unit.hi);
      C.paint(spans, Array.from(values, v => C.unitColour(v, unit.scale)));
      document.body.dataset.unit = unit.name;
    }
    document.addEventListener("keydown", event => {
      const step = {ArrowRight: 1, ArrowDown: 1, ArrowLeft: -1, ArrowUp: -1}[event.key];
      if (step && event.target.tagName !== "SELECT") { event.preventDefault(); show(current + step); }
    });
    $("text").addEventListener("mousemove", event => {
      const i = event.target.dataset.i;
      if (i === undefined) { tip.hidden = true; return; }
      showTip(event, box => element("div", u.units[current].name + " at " + i + ": " + values[i].toFixed(3), box));
    });
    $("text").addEventListener("mouseleave", () => { tip.hidden = true; });
    show(u.start || 0);
  }

  // gates: each unit at (fraction left-saturated, fraction right-saturated), a panel per layer
  function scatter(groups) {
    const colours = {i: "#1f77b4", f: "#d62728", o: "#2ca02c", z: "#9467bd", r: "#ff7f0e"}, S = 240, M = 34;
    const NS = "http://www.w3.org/2000/svg";
    const svgElement = (tag, attrs, parent) => {
      const made = document.createElementNS(NS, tag);
      for (const [k, v] of Object.entries(attrs)) made.setAttribute(k, v);
      parent.appendChild(made);
      return made;
    };
    for (const layer of [...new Set(groups.map(g => g.layer))]) {
      const svg = svgElement("svg", {width: S + M + 10, height: S + M + 24}, $("plots"));
      svgElement("rect", {x: M, y: 10, width: S, height: S, fill: "none", stroke: "#999"}, svg);
      svgElement("text", {x: M + S / 2, y: S + M + 6, "text-anchor": "middle"}, svg).textContent = "left-saturated (< 0.1)";
      svgElement("text", {x: 12, y: 10 + S / 2, transform: `rotate(-90 12 ${10 + S / 2})`, "text-anchor": "middle"}, svg)
        .textContent = "right-saturated (> 0.9)";
      svgElement("text", {x: M + 4, y: 24}, svg).textContent = "layer " + layer;
      groups.filter(g => g.layer === layer).forEach((g, k) => {
        svgElement("text", {x: M + S - 30, y: 24 + 14 * k, fill: colours[g.kind]}, svg).textContent = "● " + g.kind;
        g.left.forEach((x, j) => svgElement("circle", {cx: M + x * S, cy: 10 + S - g.right[j] * S, r: 2.5,
          fill: colours[g.kind], "fill-opacity": 0.6, "data-kind": g.kind, "data-unit": j}, svg));
      });
    }
  }

  const spans = data.symbols ? C.spans($("text"), data.symbols) : [];
  if (!data.symbols) $("text").hidden = true;
  if (data.score) score(data.score, spans);
  if (data.units) await units(data.units, spans);
  if (data.scatter) scatter(data.scatter);
  tables(data.tables);
  document.body.dataset.ready = "1";
})();
