// charrnn's colouring of text, one span per character: standalone (no imports), so that any
// page holding a model's stored data can use it (the inspect report, the serve page).
//   const spans = charrnnColour.spans(element, ["T", "o", " ", ...]);
//   charrnnColour.paint(spans, values.map(v => charrnnColour.unitColour(v, "unbounded")));
// The scales are charrnn/inspect/terminal.py's: a unit's value from red (-1) through white
// to blue (+1), surprisal from white to red at ln V nats.
(function (root) {
  "use strict";
  const RED = [230, 80, 80], BLUE = [70, 130, 230];

  function mix(target, t) {
    return "rgb(" + target.map(c => Math.floor(255 + (c - 255) * t + 0.5)).join(", ") + ")";
  }

  // A unit's value on [-1, 1] by its kind's scale (charrnn/hooks.py, value_scales): 2v - 1 of a
  // "gate" in (0, 1), tanh of an "unbounded" value, a "bounded" one as it is.
  function signed(value, scale) {
    if (scale === "unbounded") return Math.tanh(value);
    if (scale === "gate") return 2 * value - 1;
    return Math.max(-1, Math.min(1, value));
  }

  function unitColour(value, scale) {
    const t = signed(value, scale);
    return mix(t > 0 ? BLUE : RED, Math.abs(t));
  }

  function surprisalColour(logprob, vocabSize) {
    return mix(RED, Math.min(1, -logprob / Math.log(vocabSize)));
  }

  // One <span> per character, text set as text (never parsed as HTML).
  function spans(container, symbols) {
    const made = new Array(symbols.length), fragment = document.createDocumentFragment();
    for (let i = 0; i < symbols.length; i++) {
      const span = document.createElement("span");
      span.textContent = symbols[i];
      span.dataset.i = i;
      fragment.appendChild(span);
      made[i] = span;
    }
    container.appendChild(fragment);
    return made;
  }

  function paint(spans, colours) {
    for (let i = 0; i < spans.length; i++) spans[i].style.backgroundColor = colours[i] || "";
  }

  // Stored values: 8 bits each, value = lo + q (hi - lo) / 255, zlib-deflated, then in base 85
  // ({base85, length, alphabet}: 5 digits for each 4 bytes, big-endian).
  function base85(packed) {
    const digit = new Uint8Array(128), text = packed.base85, out = new Uint8Array(text.length / 5 * 4);
    for (let i = 0; i < 85; i++) digit[packed.alphabet.charCodeAt(i)] = i;
    for (let i = 0, j = 0; i < text.length; i += 5, j += 4) {
      let v = 0;
      for (let k = 0; k < 5; k++) v = v * 85 + digit[text.charCodeAt(i + k)];
      out[j] = v >>> 24; out[j + 1] = (v >>> 16) & 255; out[j + 2] = (v >>> 8) & 255; out[j + 3] = v & 255;
    }
    return out.subarray(0, packed.length);
  }

  async function inflate(packed) {
    const stream = new Blob([base85(packed)]).stream().pipeThrough(new DecompressionStream("deflate"));
    return new Uint8Array(await new Response(stream).arrayBuffer());
  }

  function dequantise(bytes, lo, hi) {
    const out = new Float64Array(bytes.length), step = (hi - lo) / 255;
    for (let i = 0; i < bytes.length; i++) out[i] = lo + bytes[i] * step;
    return out;
  }

  root.charrnnColour = {unitColour, surprisalColour, spans, paint, inflate, dequantise};
})(globalThis);
