// Graph view front-end: shows the SVG that Python rendered, pan (drag) / zoom (wheel) / fit,
// and reports the clicked node's id (or an open module frame's id) through the `selected`
// trait. The selected node keeps its highlight across re-draws; a drawing the user has not
// panned or zoomed is fitted to the viewport whenever it changes or the viewport resizes.
function render({ model, el }) {
  el.classList.add("etwb-graph");
  const viewport = document.createElement("div");
  viewport.className = "etwb-graph-viewport";
  const canvas = document.createElement("div");
  canvas.className = "etwb-graph-canvas";
  viewport.appendChild(canvas);
  const bar = document.createElement("div");
  bar.className = "etwb-graph-bar";
  bar.textContent =
    "drag to pan · wheel to zoom · click a node for details, a 3-D box to open it, " +
    "an open module's frame title to close it · ";
  const fitButton = document.createElement("button");
  fitButton.textContent = "fit";
  fitButton.title = "show the whole graph";
  bar.appendChild(fitButton);
  el.appendChild(bar);
  el.appendChild(viewport);

  let scale = 1, x = 0, y = 0, drag = null, moved = false, touched = false;
  const apply = () => { canvas.style.transform = `translate(${x}px, ${y}px) scale(${scale})`; };

  // The drawing's size at scale 1, in CSS px: the svg's width/height (graphviz writes pt),
  // else its viewBox, else its bounding box.
  const naturalSize = (svg) => {
    let w = svg.width && svg.width.baseVal ? svg.width.baseVal.value : 0;
    let h = svg.height && svg.height.baseVal ? svg.height.baseVal.value : 0;
    const box = svg.viewBox && svg.viewBox.baseVal;
    if ((!w || !h) && box && box.width) { w = box.width; h = box.height; }
    if (!w || !h) { const b = svg.getBBox(); w = b.width; h = b.height; }
    return [w, h];
  };

  // Scale (never above 100 %) and translate so the whole graph shows, centred.
  const fit = () => {
    const svg = canvas.querySelector("svg");
    const vw = viewport.clientWidth, vh = viewport.clientHeight;
    if (!svg || !vw || !vh) return false; // hidden (another tab): fitted when shown
    const [w, h] = naturalSize(svg);
    if (!w || !h) return false;
    const pad = 8;
    scale = Math.min(1, (vw - pad) / w, (vh - pad) / h);
    x = (vw - w * scale) / 2;
    y = Math.max(pad / 2, (vh - h * scale) / 2);
    apply();
    return true;
  };
  fitButton.onclick = () => { touched = false; fit(); };

  const highlight = () => {
    const sel = model.get("selected");
    canvas.querySelectorAll(".etwb-selected").forEach((n) => n.classList.remove("etwb-selected"));
    if (!sel) return;
    canvas.querySelectorAll("g.node, g.cluster").forEach((g) => {
      if (g.id === sel) g.classList.add("etwb-selected");
    });
  };

  const draw = () => {
    canvas.innerHTML = model.get("svg");
    canvas.querySelectorAll("g.node, g.cluster.etwb-frame").forEach((g) => {
      g.style.cursor = "pointer";
    });
    highlight();
    if (!touched) fit();
  };

  viewport.addEventListener("wheel", (ev) => {
    ev.preventDefault();
    const r = viewport.getBoundingClientRect();
    const px = ev.clientX - r.left, py = ev.clientY - r.top;
    const k = ev.deltaY < 0 ? 1.15 : 1 / 1.15;
    x = px - (px - x) * k; y = py - (py - y) * k; scale *= k;
    touched = true;
    apply();
  }, { passive: false });
  let start = null;
  viewport.addEventListener("mousedown", (ev) => {
    drag = [ev.clientX - x, ev.clientY - y]; start = [ev.clientX, ev.clientY]; moved = false;
  });
  window.addEventListener("mousemove", (ev) => {
    if (!drag) return;
    // a few px of jitter during a click is not a drag
    if (!moved && Math.hypot(ev.clientX - start[0], ev.clientY - start[1]) < 4) return;
    moved = true; touched = true;
    x = ev.clientX - drag[0]; y = ev.clientY - drag[1]; apply();
  });
  window.addEventListener("mouseup", () => { drag = null; });
  canvas.addEventListener("click", (ev) => {
    if (moved) return;
    const g = ev.target.closest("g.node") || ev.target.closest("g.cluster.etwb-frame");
    if (!g) return;
    model.set("selected", g.id);
    model.save_changes();
    highlight();
  });
  model.on("change:svg", draw);
  model.on("change:selected", highlight);
  if (typeof ResizeObserver !== "undefined") {
    // a tab shown for the first time, or the viewport dragged taller: fit again
    new ResizeObserver(() => { if (!touched) fit(); }).observe(viewport);
  }
  draw();
}
export default { render };
