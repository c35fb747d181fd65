// The "look inside" tab: POST /v1/inspect with the text, then each character coloured by its
// surprisal or by one unit's value with colour.js (the inspect report's scales), its numbers
// under the pointer. Uses page.js's $, authHeaders, loadModel and modelMeta. Characters go in
// as text (colour.js's spans, textContent), never parsed as HTML.
"use strict";

const C = globalThis.charrnnColour;
const TOP_K = 3;  // alternatives shown under the pointer
let looked = null;  // the last reply, with .spans and .rows (each character's score row or null)
let lookSerial = 0;  // a reply to an older request is dropped

function setOptions(select, values, labels, chosen) {
  select.replaceChildren(...values.map((v, i) => new Option(labels[i], v, false, v === chosen)));
}

async function unitChoices() {
  if ($("layer").options.length) return;
  if (!modelMeta) await loadModel();
  const layers = [...Array(modelMeta.num_layers).keys()].map(String), kinds = modelMeta.kinds;
  setOptions($("layer"), layers, layers, layers[layers.length - 1]);
  setOptions($("kind"), kinds, kinds, kinds.includes("c") ? "c" : "h");
  $("unit").max = modelMeta.hidden_size - 1;
}

function showTab(name) {
  for (const tab of ["generate", "look"]) {
    $(`tab-${tab}`).setAttribute("aria-selected", String(tab === name));
    $(`${tab}-panel`).hidden = tab !== name;
  }
  if (name !== "look") return;
  if (!$("look-text").value) {
    const first = document.querySelector(".generated");
    $("look-text").value = $("prime").value + (first ? first.textContent : "");
  }
  unitChoices().catch((error) => lookStatus(`Error: ${error.message}`));
}

function lookStatus(message) {
  $("look-status").textContent = message;
  $("look-status").classList.toggle("error", /^Error/.test(message));
}

async function look(event) {
  if (event) event.preventDefault();
  const serial = ++lookSerial;
  lookStatus("scoring…");
  try {
    await unitChoices();
    const body = { text: $("look-text").value, top_k: TOP_K, layer: Number($("layer").value), kind: $("kind").value };
    if ($("unit").value !== "") body.unit = Number($("unit").value);
    const response = await fetch("/v1/inspect", {
      method: "POST", body: JSON.stringify(body), headers: { "Content-Type": "application/json", ...authHeaders() },
    });
    const reply = await response.json();
    if (!response.ok) throw new Error(reply.error.message);
    if (serial === lookSerial) show(reply);
  } catch (error) {
    if (serial === lookSerial) lookStatus(`Error: ${error.message}`);
  }
}

function show(reply) {
  looked = reply;
  looked.rows = new Array(reply.symbols.length).fill(null);
  for (const row of reply.scores) looked.rows[row.position] = row;
  $("look-output").replaceChildren();
  looked.spans = C.spans($("look-output"), reply.symbols);
  setOptions($("top-units"), reply.units.map((u) => String(u.index)),
    reply.units.map((u) => `${u.unit} (variance ${u.variance.toFixed(3)})`), String(reply.unit.index));
  paintLook();
  lookStatus(`${reply.chars} characters scored: ${(reply.nats / reply.chars).toFixed(3)} nats/char; ` +
    "point at a character for its numbers");
}

function paintLook() {
  if (!looked) return;
  const unit = looked.unit, byUnit = $("colour-by").value === "unit";
  C.paint(looked.spans, byUnit ? unit.values.map((v) => C.unitColour(v, unit.scale))
    : looked.rows.map((row) => row && C.surprisalColour(row.logprob, looked.vocab_size)));
  $("look-output").dataset.colouredBy = byUnit ? unit.unit : "surprisal";
}

function detail(event) {
  const i = event.target.dataset.i;
  if (!looked || i === undefined) return;
  const row = looked.rows[i], unit = looked.unit;
  const lines = [`${JSON.stringify(looked.symbols[i])} at ${i}: ` +
    (row ? `${(-row.logprob).toFixed(3)} nats, rank ${row.rank}` : "the first character is not scored")];
  if (row) lines.push("likeliest: " + row.top.map(([c, p]) => `${JSON.stringify(c)} ${p.toFixed(3)}`).join("  "));
  lines.push(`unit ${unit.unit}: ${unit.values[i].toFixed(3)}`);
  $("look-detail").textContent = lines.join("\n");
}

function byUnit(clearUnit) {
  if (clearUnit) $("unit").value = "";  // a new layer or kind: its most variable unit
  $("colour-by").value = "unit";
  look();
}

$("tab-generate").addEventListener("click", () => showTab("generate"));
$("tab-look").addEventListener("click", () => showTab("look"));
$("look-controls").addEventListener("submit", look);
$("colour-by").addEventListener("change", paintLook);
$("layer").addEventListener("change", () => byUnit(true));
$("kind").addEventListener("change", () => byUnit(true));
$("unit").addEventListener("change", () => byUnit(false));
$("top-units").addEventListener("change", () => { $("unit").value = $("top-units").value; byUnit(false); });
$("look-output").addEventListener("mousemove", detail);
