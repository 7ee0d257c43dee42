// The live feed's client: polls the feed routes, applies changed parts and charts in place.
// Why and how: pages/_feed.py, which fills in the poll period and the sidebar route when served.
(() => {
  if (window.__liveFeed) return;
  const feed = window.__liveFeed = {etags: {}, payloads: {}, sort: null, mine: false};
  const PERIOD = __POLL_MS__;
  const sortTable = box => {
    const s = feed.sort, table = box.querySelector("table");
    if (!table) return;
    for (const th of table.querySelectorAll("th"))
      th.dataset.dir = s && th.dataset.col === String(s.col) ? s.dir : "";
    if (!s) return;
    const body = table.tBodies[0], rows = [...body.rows];
    const key = r => { const c = r.cells[s.col]; return c ? c.dataset.v : ""; };
    rows.sort((a, b) => {
      const x = key(a), y = key(b), nx = parseFloat(x), ny = parseFloat(y);
      const cmp = x === "" ? 1 : y === "" ? -1 :
        (!isNaN(nx) && !isNaN(ny) ? nx - ny : x.localeCompare(y));
      return s.dir === "asc" || x === "" || y === "" ? cmp : -cmp;
    });
    for (const r of rows) body.appendChild(r);
  };
  document.addEventListener("click", ev => {
    const th = ev.target.closest && ev.target.closest(".live-table th");
    if (!th) return;
    const col = Number(th.dataset.col), s = feed.sort;
    feed.sort = {col, dir: s && s.col === col && s.dir === "asc" ? "desc" : "asc"};
    sortTable(th.closest(".live-table"));
  });
  // Layout keys the page owns: Streamlit's theme (template) and the chart's size.
  const OWN = ["template", "width", "height", "autosize"];
  const merged = (page, fig) => {
    const layout = {...fig.layout};
    for (const k of OWN) if (page && page[k] !== undefined) layout[k] = page[k];
    return layout;
  };
  const own = layout => JSON.stringify(OWN.map(k => layout ? layout[k] : undefined));
  const wrap = P => {
    if (P.__liveFeed) return;
    P.__liveFeed = true;
    const react = P.react;
    P.react = function (gd, ...rest) {
      // Streamlit redraws a chart from the figure of its last rerun, and echoes every change
      // of the chart (a zoom, our own updates) with such a redraw. Redrawn as it asks, our
      // data would be lost; redrawn with ours, the echo would loop (tens of redraws a
      // second). So: only a change of the page's own layout keys (theme, size) is redrawn,
      // with the feed's data; an echo is dropped.
      if (feed.mine || !gd || !gd.__liveFig) return react.call(this, gd, ...rest);
      const whole = rest[0] && !Array.isArray(rest[0]) ? rest[0] : null;
      const layout = whole ? whole.layout : rest[1], config = whole ? whole.config : rest[2];
      if (own(layout) === own(gd.layout)) return Promise.resolve(gd);
      return react.call(this, gd, {...(whole || {}), data: gd.__liveFig.data,
                                   layout: merged(layout, gd.__liveFig), config});
    };
  };
  const applyParts = p => {
    for (const [name, [hash, body]] of Object.entries(p.parts || {}))
      for (const el of document.querySelectorAll(`[data-live-part="${name}"]`)) {
        if (el.dataset.liveRun !== p.run || el.dataset.liveHash === hash) continue;
        el.innerHTML = body;
        el.dataset.liveHash = hash;
        const box = el.querySelector(".live-table");
        if (box) sortTable(box);
      }
    const P = window.Plotly;
    if (!P || !p.figures) return;
    wrap(P);
    for (const [key, [hash, fig]] of Object.entries(p.figures)) {
      const gd = document.querySelector(`.st-key-${key} .js-plotly-plot`);
      if (!gd || !gd._fullLayout || gd.__liveHash === hash) continue;
      const owner = document.querySelector(`[data-live-feed][data-live-run="${p.run}"]`);
      if (!owner) continue;
      gd.__liveFig = fig;
      gd.__liveHash = hash;
      feed.mine = true;
      try {
        // one figure object, as Streamlit passes it (pages/_plotly.py's keeper expects that)
        Promise.resolve(P.react(gd, {data: fig.data, layout: merged(gd.layout, fig),
                                     config: gd._context})).catch(() => {});
      } finally { feed.mine = false; }
    }
  };
  const poll = async url => {
    const headers = feed.etags[url] ? {"If-None-Match": feed.etags[url]} : {};
    let reply;
    try {
      reply = await fetch(url, {headers, cache: "no-store", credentials: "same-origin"});
    } catch (error) { return; }
    if (reply.status === 200) {
      try { feed.payloads[url] = await reply.json(); } catch (error) { return; }
      feed.etags[url] = reply.headers.get("ETag");
    } else if (reply.status !== 304) {
      delete feed.etags[url];
      return;
    }
    const p = feed.payloads[url];
    if (p) applyParts(p);
  };
  const tick = async () => {
    try {
      if (!document.hidden) {
        const anchors = [...document.querySelectorAll("[data-live-feed]")];
        const covered = new Set(anchors.filter(a => a.dataset.liveCovers === "sidebar")
          .map(a => a.dataset.liveRun));
        const urls = new Set(anchors.filter(a => !(a.dataset.liveFeed.startsWith(
          "__SIDEBAR_URL__?") && covered.has(a.dataset.liveRun))).map(a => a.dataset.liveFeed));
        await Promise.all([...urls].map(poll));
      }
    } finally { setTimeout(tick, PERIOD); }
  };
  tick();
})();
