// The charrnn page: POST /v1/completions with stream: true, read the server-sent events with
// fetch and a reader (EventSource can only GET), and append each choice's text as it comes.
// Generated text is only ever inserted as text (textContent), never parsed as HTML.
"use strict";

const $ = (id) => document.getElementById(id);
let controller = null;
let modelId = null;
let modelMeta = null;  // {cell, num_layers, hidden_size, vocab_size, kinds, ...}: look.js reads it

async function loadModel() {
  const response = await fetch("/v1/models", { headers: authHeaders() });
  const body = await response.json();
  if (!response.ok) throw new Error(body.error ? body.error.message : response.statusText);
  modelId = body.data[0].id;
  modelMeta = body.data[0].meta;
  $("model").textContent = `${modelId}: ${body.data[0].meta.cell} ${body.data[0].meta.num_layers}×${body.data[0].meta.hidden_size}`;
}

function authHeaders() {
  const key = $("api-key").value;
  return key ? { Authorization: `Bearer ${key}` } : {};
}

function request() {
  const greedy = $("greedy").checked;
  const body = {
    model: modelId, prompt: $("prime").value, stream: true,
    max_tokens: Number($("length").value), n: Number($("samples").value),
    temperature: greedy ? 0 : Number($("temperature").value),
    top_k: Number($("top-k").value), top_p: Number($("top-p").value),
  };
  if ($("seed").value !== "") body.seed = Number($("seed").value);
  const penalty = Number($("repetition-penalty").value), ngram = Number($("no-repeat-ngram").value);
  if (penalty !== 1) body.repetition_penalty = penalty;
  if (ngram > 0) body.no_repeat_ngram = ngram;
  return body;
}

function makeOutputs(count, prime) {
  const outputs = $("outputs");
  outputs.replaceChildren();
  const generated = [];
  for (let i = 0; i < count; i++) {
    const pre = document.createElement("pre");
    pre.className = "sample";
    const primeSpan = document.createElement("span");
    primeSpan.className = "prime";
    primeSpan.textContent = prime;
    const out = document.createElement("span");
    out.className = "generated";
    pre.append(primeSpan, out);
    outputs.append(pre);
    generated.push(out);
  }
  return generated;
}

// Yield each event's data (a string) from a server-sent-events response body.
async function* events(response) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, { stream: true });
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const event = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const data = event.split("\n").filter((l) => l.startsWith("data:")).map((l) => l.slice(5).trimStart());
      if (data.length) yield data.join("\n");
    }
  }
}

function setRunning(running, message) {
  $("generate").disabled = running;
  $("stop").disabled = !running;
  $("status").textContent = message;
  $("status").classList.toggle("error", /^Error/.test(message));
}

async function generate(event) {
  event.preventDefault();
  const body = request();
  const outputs = makeOutputs(body.n, body.prompt);
  controller = new AbortController();
  setRunning(true, "generating…");
  const started = performance.now();
  let chars = 0;
  try {
    if (!modelId) await loadModel();
    body.model = modelId;
    const response = await fetch("/v1/completions", {
      method: "POST", signal: controller.signal, body: JSON.stringify(body),
      headers: { "Content-Type": "application/json", ...authHeaders() },
    });
    if (!response.ok) throw new Error((await response.json()).error.message);
    for await (const data of events(response)) {
      if (data === "[DONE]") break;
      const chunk = JSON.parse(data);
      if (chunk.error) throw new Error(chunk.error.message);
      for (const choice of chunk.choices) {
        outputs[choice.index].append(choice.text);  // a text node: never HTML
        chars += choice.text.length;
      }
    }
    const seconds = (performance.now() - started) / 1000;
    setRunning(false, `${chars} characters in ${seconds.toFixed(1)} s`);
  } catch (error) {
    setRunning(false, error.name === "AbortError" ? `stopped after ${chars} characters` : `Error: ${error.message}`);
  }
}

$("controls").addEventListener("submit", generate);
$("stop").addEventListener("click", () => controller && controller.abort());
$("temperature").addEventListener("input", () => { $("temperature-value").textContent = $("temperature").value; });
$("greedy").addEventListener("change", () => { $("temperature").disabled = $("greedy").checked; });
loadModel().catch((error) => setRunning(false, `Error: ${error.message}`));
