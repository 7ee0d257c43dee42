// Keeps a live chart's zoom and legend choices while its data grows, and draws a chart once
// on a page's load: pages/common/live_chart.py says why and how (Streamlit 1.67 only).
(() => {
  if (window.__stLiveChart) return;
  // st-key class -> {ranges: {axis name: [lo, hi]}, shown: {trace name: visible}}
  const kept = window.__stLiveChart = {};
  const FIRST_DRAW_MS = 1500;
  const keyOf = gd => {
    const box = gd && gd.closest && gd.closest("[data-testid='stElementContainer']");
    const cls = box && [...box.classList].find(c => c.startsWith("st-key-"));
    return cls && document.querySelector(`[data-live-chart='${cls}']`) ? cls : undefined;
  };
  const entry = key => kept[key] || (kept[key] = {ranges: {}, shown: {}});
  const onRelayout = (gd, key, ev) => {
    const ranges = entry(key).ranges;
    for (const ax of new Set(Object.keys(ev || {}).map(k => k.split(".")[0]))) {
      if (!/^[xy]axis\d*$/.test(ax)) continue;
      const a = gd.layout[ax];
      if (!a || a.autorange || !Array.isArray(a.range)) delete ranges[ax];
      else ranges[ax] = a.range.slice();
    }
  };
  const onRestyle = (gd, key, ev) => {
    const shown = entry(key).shown;
    const touched = Array.isArray(ev && ev[1]) ? ev[1] : gd.data.map((_, i) => i);
    for (const i of touched) {
      const trace = gd.data[i];
      if (trace && trace.name) shown[trace.name] = trace.visible ?? true;
    }
  };
  const overlay = (fig, k) => {
    if (!fig || !fig.layout) return fig;
    const layout = {...fig.layout};
    for (const [ax, r] of Object.entries(k.ranges))
      layout[ax] = {...(layout[ax] || {}), range: r.slice(), autorange: false};
    const data = (fig.data || [])
      .map(t => t && t.name in k.shown ? {...t, visible: k.shown[t.name]} : t);
    return {...fig, layout, data};
  };
  const wrap = P => {
    if (P.__stLiveChart) return;
    P.__stLiveChart = true;
    const react = P.react;
    P.react = function (gd, fig, ...rest) {
      const key = keyOf(gd);
      if (key && !gd._fullLayout && fig && fig.layout && fig.layout.width === undefined &&
          (fig.data || []).length) {
        // Streamlit's first draw of a chart comes before it has measured the chart's width,
        // and it draws the chart again with the width at once. The chart's box is already
        // laid out, so this first draw is made whole at that box's width (Streamlit's next
        // draw then finds nothing changed), not every trace twice (half of a large Monitor's
        // drawing in the browser), nor the axes alone first (0.2-0.3 s for a Monitor's six
        // charts in a browser that just started). It waits for the next frame, so what the
        // page holds so far (its title, counts, pickers) is painted first.
        const self = this, whole = () => kept[key] ? overlay(fig, kept[key]) : fig;
        if (gd.getBoundingClientRect().width > 0) {
          gd.__stWidth = true;
          return wired(new Promise(done => requestAnimationFrame(() => setTimeout(done, 0)))
            .then(() => {
              const f = whole(), width = gd.getBoundingClientRect().width;
              gd.__stDrawnAt = {width, height: f.layout.height, traces: f.data.length};
              return react.call(self, gd, {...f, layout: {...f.layout, width}}, ...rest);
            }), gd, key);
        }
        // a box not laid out (hidden): the axes only, and the whole figure when Streamlit
        // draws it again with its width, or after FIRST_DRAW_MS all the same
        setTimeout(() => { if (!gd.__stWidth) react.call(self, gd, whole(), ...rest); },
                   FIRST_DRAW_MS);
        return wired(react.call(this, gd, {...fig, data: []}, ...rest), gd, key);
      }
      const drawn = gd && gd.__stDrawnAt;
      if (drawn) {
        // Streamlit's second draw, the width measured: the same figure at the width it was
        // just drawn at is not drawn again (Plotly's own comparison of the two took 40-60 ms
        // a chart); anything else (another width, a resize, the live feed) is drawn
        delete gd.__stDrawnAt;
        if (fig && fig.layout && Math.abs(fig.layout.width - drawn.width) < 0.5 &&
            (drawn.height === undefined || fig.layout.height === drawn.height) &&
            (fig.data || []).length === drawn.traces) return Promise.resolve(gd);
      }
      const draw = () => react.call(this, gd, key && kept[key] ? overlay(fig, kept[key]) : fig,
                                    ...rest);
      if (key && fig && fig.layout && fig.layout.width !== undefined && !gd.__stWidth) {
        // the chart's first whole draw waits for the next frame: what the page holds so far
        // (its title, counts, pickers) is painted first instead of after every chart's
        // drawing (a long task each, 0.1-0.3 s on a large run); Streamlit chains on the
        // returned promise, so its events are wired once the chart is drawn
        gd.__stWidth = true;
        return wired(new Promise(done => requestAnimationFrame(() => setTimeout(done, 0)))
          .then(draw), gd, key);
      }
      return wired(draw(), gd, key);
    };
  };
  const wired = (out, gd, key) => {
    Promise.resolve(out).then(() => {
      if (!key || gd.__stLiveChart || typeof gd.on !== "function") return;
      gd.__stLiveChart = true;
      gd.on("plotly_relayout", ev => onRelayout(gd, key, ev));
      gd.on("plotly_restyle", ev => onRestyle(gd, key, ev));
    }, () => {});
    return out;
  };
  // Wrapped as soon as the chart component sets the global Plotly (its first draw follows
  // in the same task), else by polling for it.
  if (!window.Plotly) {
    try {
      let plotly;
      Object.defineProperty(window, "Plotly", {
        configurable: true, enumerable: true, get: () => plotly,
        set: value => { plotly = value; if (value && value.react) wrap(value); }});
    } catch (error) { /* a page that defined it otherwise: polled below */ }
  }
  const timer = setInterval(() => {
    if (window.Plotly && window.Plotly.react) { wrap(window.Plotly); clearInterval(timer); }
  }, 50);
})();
