// charrnn's sampler in plain JavaScript, with no dependencies: Node 18+ or any current browser.
//
//   node sampler.mjs --prime TEXT --n N [--greedy] [--temperature T] [--top-k K] [--seed S]
//                    [--uniforms FILE] [--dir DIR]
//
// prints the prime and its continuation to stdout, as `charrnn sample --seed TEXT` does. It
// reads model.json and weights.bin from DIR (default: this file's directory), both written by
// `charrnn export web`:
//
//   model.json   config, vocab (code points, or byte values in byte mode), and a tensor table:
//                name, shape and byte offset of each array in weights.bin, in charrnn's layout
//                (rnn.L.Wx (D, G·H), rnn.L.Wh (H, G·H), rnn.L.b, head.W (H, V), ...; rows
//                major) with its gate order (LSTM i, f, o, g; coupled f, o, g; GRU z, r, n;
//                QRNN f, o, g; minGRU z, n). The QRNN and the minGRU have no Wh. A window-2
//                QRNN's Wx is (D, 6H) = [W_0 | W_1] with b (3H) on W_0's columns: a step's
//                x·Wx gives its own pre-activations and, in the last 3H, the next step's share,
//                which the state carries as p (3H) beside h and C.
//   weights.bin  the arrays, little-endian float32, one after another
//
// Arithmetic is in float64 (JavaScript numbers) on the float32 weights. Sampling follows
// charrnn's sample.py: temperature, then top-k, then a draw u ∈ [0, 1) taken as the first
// symbol whose cumulative mass exceeds u·total. The draws come from mulberry32 seeded by
// --seed, or, with --uniforms FILE, from the file's numbers in order (one per character), so
// a test can feed this sampler and charrnn the same draws.
//
// The file is at once an ES module (Node runs it) and a classic script: index.html loads it
// from disk (file://), where browsers refuse module scripts. So it has no import or export
// statements; its API is globalThis.charrnn.

(function () {
  "use strict";

  // ---- the model: tensors, cells, one step ----

  // the column blocks of Wx, Wh and b that the cells below read, in model.json's "gate_order"
  const GATE_ORDER = { rnn: "h", gru: "zrn", lstm: "ifog", coupled: "fog", qrnn: "fog", mingru: "zn" };
  // each state array's width in units of H: h; h, C; and a window-2 QRNN's p (cells/__init__.py)
  const STATE_WIDTHS = (config) => ({ lstm: [1, 1], qrnn: config.qrnn_window === 2 ? [1, 1, 3] : [1, 1] })[config.cell]
    || [1];

  function loadModel(model, bytes) {
    // model.json's object and weights.bin's bytes (a DataView) → {config, vocab, tensors}
    const variant = model.config.cell === "lstm" && model.config.coupled_gates ? "coupled" : model.config.cell;
    if ((model.gate_order || []).join("") !== GATE_ORDER[variant]) {
      throw new Error(`model.json's gate order ${JSON.stringify(model.gate_order)} is not the ${variant} ` +
        `order this sampler reads (${[...GATE_ORDER[variant]].join(", ")}): export it with this charrnn`);
    }
    const tensors = {}, shapes = {};
    for (const { name, shape, offset } of model.tensors) {
      const size = shape.reduce((a, b) => a * b, 1);
      const values = new Float64Array(size);
      for (let k = 0; k < size; k++) values[k] = bytes.getFloat32(offset + 4 * k, true);
      tensors[name] = values;
      shapes[name] = shape;
    }
    return { config: model.config, vocab: makeVocab(model.vocab), tensors, shapes, epsilon: model.layer_norm_epsilon };
  }

  function addVecMat(y, x, W, cols, from = 0, to = cols) {
    // y[from:to] += x·W[:, from:to]   x (D), W (D, cols) row-major
    for (let d = 0; d < x.length; d++) {
      const xd = x[d], row = d * cols;
      for (let j = from; j < to; j++) y[j] += xd * W[row + j];
    }
  }

  const sigmoid = (a) => 1 / (1 + Math.exp(-a));

  function normalise(a, from, to, gain, shift, epsilon, out) {
    // out[from:to] = γ⊙(a − mean a)/σ(a) + β over the block a[from:to]; γ, β (H)
    const H = to - from;
    let mean = 0, variance = 0;
    for (let j = from; j < to; j++) mean += a[j];
    mean /= H;
    for (let j = from; j < to; j++) variance += (a[j] - mean) ** 2;
    const rstd = 1 / Math.sqrt(variance / H + epsilon);
    for (let j = from; j < to; j++) out[j] = (a[j] - mean) * rstd * gain[j - from] + shift[j - from];
  }

  const CELLS = {
    rnn(a, [h], L) { // h_t = tanh(x·Wx + b + h·Wh)
      addVecMat(a, h, L.Wh, L.H);
      for (let j = 0; j < L.H; j++) h[j] = Math.tanh(a[j]);
    },
    gru(a, [h], L) { // z, r = σ(·), n = tanh(x·Wx_n + b_n + (r⊙h)·Wh_n), h = (1 − z)⊙h + z⊙n
      const H = L.H, rh = L.scratch;
      addVecMat(a, h, L.Wh, 3 * H, 0, 2 * H);
      for (let j = 0; j < 2 * H; j++) a[j] = sigmoid(a[j]);
      for (let j = 0; j < H; j++) rh[j] = a[H + j] * h[j];
      addVecMat(a, rh, L.Wh, 3 * H, 2 * H, 3 * H);
      for (let j = 0; j < H; j++) h[j] += (Math.tanh(a[2 * H + j]) - h[j]) * a[j];
    },
    lstm(a, [h, c], L) { // i, f, o, g (coupled: f, o, g; i = 1 − f); peepholes p_i, p_f on C_{t-1}, p_o on C_t
      const H = L.H, coupled = L.coupled, f0 = coupled ? 0 : H, P = L.peep;
      const pf = coupled ? 0 : H, po = coupled ? H : 2 * H; // p_f's and p_o's rows of P
      addVecMat(a, h, L.Wh, L.width);
      for (let j = 0; j < H; j++) {
        let f = a[f0 + j], o = a[f0 + H + j];
        if (P) f += P[pf + j] * c[j];
        f = sigmoid(f);
        const i = coupled ? 1 - f : sigmoid(a[j] + (P ? P[j] * c[j] : 0));
        c[j] = f * c[j] + i * Math.tanh(a[f0 + 2 * H + j]);
        if (P) o += P[po + j] * c[j];
        h[j] = sigmoid(o) * Math.tanh(c[j]);
      }
    },
    layernorm_lstm(a, [h, c], L) { // each block of a, and C_t, normalised with gain γ and shift β (rows i, f, o, g, C)
      const H = L.H, z = L.normalised, zc = L.scratch;
      addVecMat(a, h, L.Wh, 4 * H);
      for (let k = 0; k < 4; k++) {
        normalise(a, k * H, (k + 1) * H, L.gain.subarray(k * H), L.shift.subarray(k * H), L.epsilon, z);
      }
      for (let j = 0; j < H; j++) c[j] = sigmoid(z[H + j]) * c[j] + sigmoid(z[j]) * Math.tanh(z[3 * H + j]);
      normalise(c, 0, H, L.gain.subarray(4 * H), L.shift.subarray(4 * H), L.epsilon, zc);
      for (let j = 0; j < H; j++) h[j] = sigmoid(z[2 * H + j]) * Math.tanh(zc[j]);
    },
    qrnn(a, [h, c, p], L) { // a += p (window 2), then p = x·W_1; f, o = σ, g = tanh; C = g + f⊙(C − g), h = o⊙C
      const H = L.H;
      if (p) {
        for (let k = 0; k < 3 * H; k++) {
          a[k] += p[k];
          p[k] = a[3 * H + k];
        }
      }
      for (let j = 0; j < H; j++) {
        const f = sigmoid(a[j]), o = sigmoid(a[H + j]), g = Math.tanh(a[2 * H + j]);
        c[j] = g + f * (c[j] - g);
        h[j] = o * c[j];
      }
    },
    mingru(a, [h], L) { // z = σ(a_z), n = a_n + ½ for a_n ≥ 0, else σ(a_n); h = h + z⊙(n − h)
      const H = L.H;
      for (let j = 0; j < H; j++) {
        const an = a[H + j], n = an >= 0 ? an + 0.5 : sigmoid(an);
        h[j] += sigmoid(a[j]) * (n - h[j]);
      }
    },
  };

  function makeNet(model) {
    // step(id, state) → logits (V), advancing state (per layer [h] or [h, c]) in place
    const { config, tensors: t } = model, H = config.hidden_size;
    const cell = config.cell === "lstm" && config.layer_norm ? "layernorm_lstm" : config.cell;
    const layers = [];
    for (let l = 0; l < config.num_layers; l++) {
      const p = (name) => t[`rnn.${l}.${name}`], width = model.shapes[`rnn.${l}.Wx`][1]; // Wx's columns
      layers.push({ H, Wx: p("Wx"), Wh: p("Wh"), b: p("b"), peep: p("peep"), gain: p("ln_gain"), shift: p("ln_shift"),
        coupled: config.coupled_gates, epsilon: model.epsilon, width,
        a: new Float64Array(width), normalised: new Float64Array(width), scratch: new Float64Array(H) });
    }
    const embed = t.embed, headW = t["head.W"], headB = t["head.b"], V = headB.length;
    const zeroState = () => layers.map(() => STATE_WIDTHS(config).map((w) => new Float64Array(w * H)));
    function step(id, state) {
      let x = embed ? embed.subarray(id * config.embedding_size, (id + 1) * config.embedding_size) : null;
      layers.forEach((L, l) => {
        const a = L.a; // x·Wx + b, b on its first columns; the one-hot first layer's x·Wx is row `id` of Wx
        a.fill(0);
        a.set(L.b);
        if (x) addVecMat(a, x, L.Wx, L.width);
        else for (let j = 0; j < L.width; j++) a[j] += L.Wx[id * L.width + j];
        CELLS[cell](a, state[l], L);
        x = state[l][0];
      });
      const logits = Float64Array.from(headB);
      addVecMat(logits, x, headW, V);
      return logits;
    }
    return { step, zeroState };
  }

  // ---- text: the vocabulary, by code point (or byte), never by UTF-16 unit ----

  function makeVocab(v) {
    const bytes = v.mode === "bytes", ids = new Map(v.symbols.map((s, i) => [s, i]));
    for (const s of v.folded) ids.set(s, v.symbols.length); // rare symbols share the last id
    const outputs = v.symbols.concat(v.folded.length ? [bytes ? 0x3f : 0xfffd] : []);
    function encode(text) {
      let symbols;
      if (bytes) symbols = Array.from(new TextEncoder().encode(text));
      else {
        if (v.nfc) text = text.normalize("NFC");
        if (v.lowercase) text = text.toLowerCase();
        symbols = Array.from(text, (ch) => ch.codePointAt(0));
      }
      const missing = symbols.filter((s) => !ids.has(s));
      if (missing.length) throw new Error(`characters not in the vocab: ${JSON.stringify(String.fromCodePoint(...new Set(missing)))}`);
      return symbols.map((s) => ids.get(s));
    }
    // the UTF-8 bytes of ids: raw bytes in byte mode, whole characters otherwise
    const toBytes = (list) => bytes ? Uint8Array.from(list, (id) => outputs[id])
      : new TextEncoder().encode(list.map((id) => String.fromCodePoint(outputs[id])).join(""));
    const defaultPrime = () => ids.has(10) ? [ids.get(10)] : [0]; // a newline, else the first symbol
    return { encode, toBytes, defaultPrime, size: outputs.length };
  }

  // ---- sampling ----

  function mulberry32(seed) {
    // mulberry32 (Tommy Ettinger, public domain): a 32-bit counter advanced by 0x6D2B79F5 per call,
    // mixed by two multiply–xorshift rounds; returns k / 2^32 in [0, 1). Small and fast; not for secrets.
    let a = seed >>> 0;
    return () => {
      a = (a + 0x6d2b79f5) >>> 0;
      let t = Math.imul(a ^ (a >>> 15), a | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
  }

  function distribution(logits, temperature, topK) {
    // unnormalised probabilities exp((logit − max)/T), zero outside the top k (ties kept)
    let max = -Infinity;
    for (const l of logits) max = Math.max(max, l);
    const probs = logits.map((l) => Math.exp((l - max) / temperature));
    if (topK && topK < probs.length) {
      const kth = Float64Array.from(probs).sort()[probs.length - topK];
      for (let j = 0; j < probs.length; j++) if (probs[j] < kth) probs[j] = 0;
    }
    return probs;
  }

  function draw(probs, u) {
    // the first symbol whose cumulative mass exceeds u·total; total·(1 − 2⁻⁵³) is the double just
    // below total, so rounding cannot carry u·total past the last symbol
    let total = 0;
    for (const p of probs) total += p;
    const target = Math.min(u * total, total * (1 - Number.EPSILON / 2));
    let cumulative = 0;
    for (let j = 0; j < probs.length; j++) if ((cumulative += probs[j]) > target) return j;
    return probs.length - 1;
  }

  function argmax(values) {
    let best = 0;
    for (let j = 1; j < values.length; j++) if (values[j] > values[best]) best = j;
    return best;
  }

  function* generate(net, primeIds, { n = 200, temperature = 1, topK = 0, greedy = false, random = Math.random } = {}) {
    // yields n ids after the prime: the state is primed on all but its last id, which is the first input
    const state = net.zeroState();
    for (const id of primeIds.slice(0, -1)) net.step(id, state);
    let id = primeIds[primeIds.length - 1];
    for (let k = 0; k < n; k++) {
      const logits = net.step(id, state);
      id = greedy ? argmax(logits) : draw(distribution(logits, temperature, topK), random());
      yield id;
    }
  }

  const api = { loadModel, makeNet, makeVocab, generate, mulberry32, distribution, draw };
  globalThis.charrnn = api;

  // ---- the Node command line ----

  function parseArgs(argv) {
    const options = { n: 200, temperature: 1, topK: 0, greedy: false };
    const numbers = { "--n": "n", "--temperature": "temperature", "--top-k": "topK", "--seed": "seed" };
    for (let k = 0; k < argv.length; k++) {
      const flag = argv[k];
      if (flag === "--greedy") options.greedy = true;
      else if (flag in numbers || ["--prime", "--dir", "--uniforms"].includes(flag)) {
        if (k + 1 >= argv.length) throw new Error(`${flag} needs a value`);
        const value = argv[++k];
        if (flag in numbers) {
          options[numbers[flag]] = Number(value);
          if (!Number.isFinite(Number(value)) || value.trim() === "") throw new Error(`${flag} must be a number, got ${value}`);
        } else options[flag.slice(2)] = value;
      } else throw new Error(`unknown option ${flag} (options: --prime --n --greedy --temperature --top-k --seed --uniforms --dir)`);
    }
    if (!(options.n >= 0 && Number.isInteger(options.n))) throw new Error(`--n must be a whole number >= 0`);
    if (!(options.temperature > 0)) throw new Error(`--temperature must be > 0`);
    if (!(options.topK >= 0 && Number.isInteger(options.topK))) throw new Error(`--top-k must be a whole number >= 1`);
    return options;
  }

  async function main(argv) {
    const fs = await import("node:fs"), path = await import("node:path");
    const options = parseArgs(argv);
    const dir = options.dir || path.dirname(process.argv[1]);
    const weights = fs.readFileSync(path.join(dir, "weights.bin"));
    const model = loadModel(JSON.parse(fs.readFileSync(path.join(dir, "model.json"), "utf8")),
      new DataView(weights.buffer, weights.byteOffset, weights.length));
    const primeIds = options.prime === undefined ? model.vocab.defaultPrime() : model.vocab.encode(options.prime);
    if (!primeIds.length) throw new Error("the prime is empty");
    if (options.uniforms) {
      const draws = fs.readFileSync(options.uniforms, "utf8").trim().split(/\s+/).map(Number);
      let next = 0;
      options.random = () => {
        if (next >= draws.length) throw new Error(`${options.uniforms} ran out of draws after ${next}`);
        return draws[next++];
      };
    } else {
      if (options.seed === undefined) {
        options.seed = Math.floor(Math.random() * 4294967296);
        process.stderr.write(`random seed: ${options.seed}\n`);
      }
      options.random = mulberry32(options.seed);
    }
    const out = [];
    if (options.prime !== undefined) out.push(model.vocab.toBytes(primeIds));
    const ids = Array.from(generate(makeNet(model), primeIds, options));
    out.push(model.vocab.toBytes(ids));
    process.stdout.write(Buffer.concat(out));
  }

  if (typeof process === "object" && /sampler\.mjs$/.test((process.argv || [])[1] || "")) {
    main(process.argv.slice(2)).catch((error) => {
      process.stderr.write(`Error: ${error.message}\n`);
      process.exitCode = 1;
    });
  }
})();
