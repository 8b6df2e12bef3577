// Gradserve playground: POST /gradients for the numbers, POST /render for the picture.
"use strict";

const $ = (id) => document.getElementById(id);
let examples = [];

function names(text) {
  return text.split(",").map((s) => s.trim()).filter(Boolean);
}

function tensorText(t) {
  // nested lists printed row by row; scalars and null as they are
  if (!Array.isArray(t)) return JSON.stringify(t);
  if (t.length && Array.isArray(t[0])) return t.map((row) => JSON.stringify(row)).join("\n");
  return JSON.stringify(t);
}

function fillTable(id, entries, key) {
  const body = $(id).querySelector("tbody");
  body.replaceChildren();
  for (const [name, value] of entries) {
    const tr = document.createElement("tr");
    tr.dataset[key] = name;
    tr.dataset.value = JSON.stringify(value);
    const th = document.createElement("th");
    th.textContent = name;
    const td = document.createElement("td");
    td.className = "tensor";
    td.textContent = value === null ? "null (not connected)" : tensorText(value);
    tr.append(th, td);
    body.append(tr);
  }
}

function showError(problem) {
  const box = $("error");
  if (!problem) { box.hidden = true; box.textContent = ""; return; }
  const where = (problem.errors || []).map((e) => (e.loc || []).join(".") + ": " + e.msg);
  box.textContent = `${problem.status || ""} ${problem.title || "Error"}\n${problem.detail || ""}` +
    (problem.node ? `\nnode: ${problem.node}` : "") + (where.length ? "\n" + where.join("\n") : "");
  box.hidden = false;
}

function loadExample(i) {
  const ex = examples[i];
  $("graph").value = JSON.stringify(ex.graph, null, 1);
  $("feeds").value = JSON.stringify(ex.feeds || {});
  $("ys").value = ex.ys.join(", ");
  $("xs").value = ex.xs.join(", ");
  $("grad_ys").value = ex.grad_ys ? JSON.stringify(ex.grad_ys) : "";
  listNodes();
}

function listNodes() {
  try {
    const g = JSON.parse($("graph").value);
    $("nodes").textContent = "nodes: " + g.nodes.map((n) => n.name).join(", ");
  } catch (e) {
    $("nodes").textContent = "the graph is not valid JSON yet";
  }
}

async function post(path, body) {
  const r = await fetch(path, {method: "POST", headers: {"Content-Type": "application/json"},
                               body: JSON.stringify(body)});
  const type = r.headers.get("content-type") || "";
  const payload = type.includes("json") ? await r.json() : await r.text();
  return {ok: r.ok, status: r.status, payload};
}

async function compute() {
  showError(null);
  let graph, feeds, gradYs;
  try {
    graph = JSON.parse($("graph").value);
    feeds = JSON.parse($("feeds").value || "{}");
    gradYs = $("grad_ys").value.trim() ? JSON.parse($("grad_ys").value) : null;
  } catch (e) {
    showError({title: "Not valid JSON", detail: String(e)});
    return;
  }
  const ys = names($("ys").value), xs = names($("xs").value);
  const button = $("compute");
  button.disabled = true;
  $("status").textContent = "computing...";
  try {
    const request = {graph, feeds, ys, xs, return_values: true};
    if (gradYs !== null) request.grad_ys = gradYs;
    const [grads, picture] = await Promise.all([
      post("/gradients", request), post("/render", {graph, ys, xs, format: "svg"})]);
    if (!grads.ok) {
      showError(grads.payload);
      $("status").textContent = "the request was refused";
    } else {
      fillTable("values", Object.entries(grads.payload.values || {}), "y");
      fillTable("gradients", xs.map((x, i) => [x, grads.payload.gradients[i]]), "x");
      $("status").textContent = `gradients of ${ys.join(" + ")} with respect to ${xs.join(", ")}`;
      $("status").dataset.done = "true";
    }
    if (picture.ok) {
      const svg = new DOMParser().parseFromString(picture.payload, "image/svg+xml");
      $("picture").replaceChildren(document.importNode(svg.documentElement, true));
    } else {
      const p = document.createElement("p");
      p.className = "hint";
      p.textContent = "No picture: " + (picture.payload.detail || picture.status);
      $("picture").replaceChildren(p);
    }
  } catch (e) {
    showError({title: "The server did not answer", detail: String(e)});
  } finally {
    button.disabled = false;
  }
}

async function start() {
  examples = await (await fetch("/playground/examples.json")).json();
  const select = $("example");
  examples.forEach((ex, i) => select.add(new Option(ex.title, String(i))));
  select.addEventListener("change", () => loadExample(Number(select.value)));
  $("graph").addEventListener("input", listNodes);
  $("compute").addEventListener("click", compute);
  loadExample(0);
  document.body.dataset.ready = "true";
}

start();
