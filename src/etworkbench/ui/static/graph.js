// Graph view front-end: shows the SVG that Python rendered, pan (drag) / zoom (wheel),
// and reports the clicked node's id back through the `selected` trait.
function render({ model, el }) {
  el.classList.add("etwb-graph");
  const viewport = document.createElement("div");
  viewport.className = "etwb-graph-viewport";
  const canvas = document.createElement("div");
  canvas.className = "etwb-graph-canvas";
  viewport.appendChild(canvas);
  const bar = document.createElement("div");
  bar.className = "etwb-graph-bar";
  bar.textContent = "drag to pan · wheel to zoom · click a node for details, a 3-D box to expand · ";
  const reset = document.createElement("button");
  reset.textContent = "fit";
  bar.appendChild(reset);
  el.appendChild(bar);
  el.appendChild(viewport);

  let scale = 1, x = 0, y = 0, drag = null, moved = false;
  const apply = () => { canvas.style.transform = `translate(${x}px, ${y}px) scale(${scale})`; };
  const fit = () => { scale = 1; x = 0; y = 0; apply(); };
  reset.onclick = fit;

  const draw = () => {
    canvas.innerHTML = model.get("svg");
    const sel = model.get("selected");
    canvas.querySelectorAll("g.node").forEach((g) => {
      g.style.cursor = "pointer";
      if (g.id === sel) g.classList.add("etwb-selected");
    });
  };
  viewport.addEventListener("wheel", (ev) => {
    ev.preventDefault();
    const r = viewport.getBoundingClientRect();
    const px = ev.clientX - r.left, py = ev.clientY - r.top;
    const k = ev.deltaY < 0 ? 1.15 : 1 / 1.15;
    x = px - (px - x) * k; y = py - (py - y) * k; scale *= k;
    apply();
  }, { passive: false });
  viewport.addEventListener("mousedown", (ev) => { drag = [ev.clientX - x, ev.clientY - y]; moved = false; });
  window.addEventListener("mousemove", (ev) => {
    if (!drag) return;
    moved = true; x = ev.clientX - drag[0]; y = ev.clientY - drag[1]; apply();
  });
  window.addEventListener("mouseup", () => { drag = null; });
  canvas.addEventListener("click", (ev) => {
    if (moved) return;
    const g = ev.target.closest("g.node");
    if (!g) return;
    model.set("selected", g.id);
    model.save_changes();
    canvas.querySelectorAll(".etwb-selected").forEach((n) => n.classList.remove("etwb-selected"));
    g.classList.add("etwb-selected");
  });
  model.on("change:svg", draw);
  draw();
}
export default { render };
