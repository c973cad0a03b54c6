// The try-it page: upload an X-ray, show the class probabilities and the
// Grad-CAM heatmap over the image. Talks only to this server's /v1 API.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { model: null, file: null, xrayUrl: null, gallery: [] };
const GALLERY_SIZE = 8;

function setStatus(text, isError) {
  const s = $("status");
  s.textContent = text;
  s.className = isError ? "error" : "";
}

function fillSelect(select, values, selected) {
  for (const v of values) {
    const o = document.createElement("option");
    o.value = v;
    o.textContent = v;
    if (v === selected) o.selected = true;
    select.appendChild(o);
  }
}

async function loadModel() {
  const r = await fetch("v1/model");
  const m = await r.json();
  if (!r.ok) throw new Error(m.error || r.statusText);
  state.model = m;
  fillSelect($("explain-class"), m.classes, null);
  fillSelect($("layer"), m.layers, "layer4");
  $("model-line").textContent =
    `Model: ${m.arch}, ${m.input_channels} x ${m.input_size} x ${m.input_size}, ` +
    `classes ${m.classes.join(", ")}, ${m.precision}.`;
  // The server's list of image types, so a new format needs no page change.
  const images = m.media_types.filter((t) => t.startsWith("image/") || t.startsWith("application/dicom"));
  $("file").accept = images.join(",");
  $("types").textContent = "Accepted: " + images.join(", ");
}

// The selectors' state; a gallery entry keeps the one it was made with.
function currentParams() {
  return { layer: $("layer").value, method: $("method").value, cls: $("explain-class").value };
}

function restoreParams(p) {
  $("layer").value = p.layer;
  $("method").value = p.method;
  $("explain-class").value = p.cls;
}

// alpha=1: the server sends the heatmap alone at the image's size, and the
// page blends it over the X-ray with the opacity slider.
function query(p) {
  const q = new URLSearchParams({ alpha: "1", layer: p.layer, method: p.method });
  if (p.cls) q.set("class", p.cls);
  return q.toString();
}

function renderBars(res) {
  const box = $("probs");
  box.textContent = "";
  for (const [name, p] of Object.entries(res.probabilities)) {
    const row = document.createElement("div");
    row.className = "bar" + (name === res.top ? " top" : "");
    row.dataset.class = name;
    const label = document.createElement("span");
    label.textContent = name;
    const track = document.createElement("div");
    track.className = "track";
    const fill = document.createElement("div");
    fill.className = "fill";
    fill.style.width = (100 * p).toFixed(1) + "%";
    track.appendChild(fill);
    const value = document.createElement("span");
    value.className = "p";
    value.textContent = (100 * p).toFixed(1) + "%";
    row.append(label, track, value);
    box.appendChild(row);
  }
}

function show(entry) {
  const res = entry.result;
  $("result").hidden = false;
  $("xray").src = entry.xrayUrl;
  $("overlay").src = entry.overlaySrc;
  $("top-class").textContent = res.top;
  $("top-prob").textContent = `(${(100 * res.probabilities[res.top]).toFixed(1)}%)`;
  $("explained").textContent =
    `Heatmap: ${res.method} of ${res.class} (${(100 * res.probability).toFixed(1)}%) at ${res.layer}, ` +
    `raw map ${res.raw_size[0]} x ${res.raw_size[1]}.`;
  renderBars(res);
  // The library's assessment: say plainly when not to trust the answer.
  const doubts = res.warnings || [];
  const trust = $("trust");
  trust.hidden = !res.ood && doubts.length === 0;
  trust.textContent = (res.ood ? "Out of distribution: this image is unlike the model's " +
    "training X-rays; do not trust the answer. " : "") +
    (doubts.length ? "Warnings: " + doubts.join("; ") : "");
  const overlay = entry.overlayMs === null ? "" : `, overlay image ${entry.overlayMs.toFixed(1)} ms`;
  $("timing").textContent = `Model and heatmap: ${res.ms.toFixed(1)} ms${overlay} on the server; ` +
    `round trip ${entry.roundTrip.toFixed(0)} ms.`;
}

function addToGallery(entry) {
  state.gallery.unshift(entry);
  state.gallery.length = Math.min(state.gallery.length, GALLERY_SIZE);
  const list = $("gallery");
  list.textContent = "";
  for (const e of state.gallery) {
    const li = document.createElement("li");
    const img = document.createElement("img");
    img.src = e.xrayUrl;
    img.alt = e.name;
    const cap = document.createElement("div");
    cap.textContent = `${e.result.top} · ${e.name}`;
    li.append(img, cap);
    li.addEventListener("click", () => {
      state.file = e.file;
      state.xrayUrl = e.xrayUrl;
      restoreParams(e.params);
      setStatus("");
      show(e);
    });
    list.appendChild(li);
  }
}

// One part of the Server-Timing header ("overlay;dur=12.3"), ms, or null.
function serverTiming(response, name) {
  const m = (response.headers.get("Server-Timing") || "").match(new RegExp(name + ";dur=([0-9.]+)"));
  return m ? parseFloat(m[1]) : null;
}

async function analyse(isNewFile) {
  if (!state.file) return;
  setStatus("Analysing " + state.file.name + " ...");
  const t0 = performance.now();
  const params = currentParams();
  let r, body;
  try {
    r = await fetch("v1/gradcam?" + query(params), {
      method: "POST",
      headers: { "Content-Type": state.file.type || "application/octet-stream" },
      body: state.file,
    });
    body = await r.json();
  } catch (err) {
    setStatus("The server did not answer: " + err.message, true);
    return;
  }
  if (!r.ok) {
    setStatus(`${state.file.name}: ${body.error} (${r.status} ${body.status})`, true);
    return;
  }
  const entry = { name: state.file.name, file: state.file, xrayUrl: state.xrayUrl, result: body, params,
                  overlaySrc: "data:image/png;base64," + body.overlay_png,
                  roundTrip: performance.now() - t0, overlayMs: serverTiming(r, "overlay") };
  show(entry);
  if (isNewFile) addToGallery(entry);
  else {
    const same = state.gallery.find((e) => e.file === state.file);
    if (same) Object.assign(same, entry); // keep its thumbnail, update its result
  }
  setStatus("");
}

function takeFile(file) {
  if (!file) return;
  state.file = file;
  state.xrayUrl = URL.createObjectURL(file);
  analyse(true);
}

function wire() {
  $("file").addEventListener("change", (e) => takeFile(e.target.files[0]));
  const drop = $("drop");
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    takeFile(e.dataTransfer.files[0]);
  });
  const opacity = $("opacity");
  const setOpacity = () => {
    $("overlay").style.opacity = opacity.value / 100;
    $("opacity-value").textContent = opacity.value + "%";
  };
  opacity.addEventListener("input", setOpacity);
  setOpacity();
  for (const id of ["explain-class", "layer", "method"])
    $(id).addEventListener("change", () => analyse(false));
}

wire();
loadModel().catch((err) => setStatus("Cannot read the model description: " + err.message, true));
