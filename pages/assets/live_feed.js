// The live feed's client: polls the feed routes (from a Web Worker), applies changed parts and
// charts in place.
// Why and how: pages/common/feed.py, which fills in the poll period and the sidebar route when
// served.
(() => {
  if (window.__liveFeed) return;
  const feed = window.__liveFeed = {payloads: {}, urls: [], sort: null, mine: false, applying: null,
                                   pending: new Map(), drawnAt: {}, timer: null, lag: 0,
                                   cost: 0, worker: false};
  const PERIOD = __POLL_MS__, CHART_MS = __CHART_MS__, MAX_CHART_MS = 4 * CHART_MS;
  const LIMIT_MS = __LIMIT_MS__;  // a request with no answer by then is given up and asked again
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
    for (const [key, [hash, fig]] of Object.entries(p.figures || {})) {
      const gd = document.querySelector(`.st-key-${key} .js-plotly-plot`);
      if (!gd || shown(key, gd) !== hash) feed.pending.set(key, {hash, fig, run: p.run});
      else feed.pending.delete(key);
    }  // a chart's newest figure replaces one still waiting
    drain();
  };
  // Charts are drawn after the HTML parts, one per task (the page paints in between, so a
  // new count shows at once), each at most every CHART_MS: a browser short of CPU draws the
  // newest data less often instead of falling behind (bench figure 9: ten pages, one core).
  // The hash of what a chart shows: the feed's last figure drawn on it, else the one the page
  // script drew it with (pages/common/live_chart.py puts the feed's hash of it by the chart).
  const shown = (key, gd) => {
    if (gd.__liveHash !== undefined) return gd.__liveHash;
    const mark = document.querySelector(`[data-live-chart="st-key-${key}"]`);
    return mark ? mark.dataset.liveFigHash : undefined;
  };
  const draw = (key, {hash, fig, run}) => {
    const P = window.Plotly, gd = document.querySelector(`.st-key-${key} .js-plotly-plot`);
    if (!P || !gd || !gd._fullLayout || shown(key, gd) === hash) return false;
    if (!document.querySelector(`[data-live-feed][data-live-run="${run}"]`)) return false;
    wrap(P);
    gd.__liveFig = fig;
    gd.__liveHash = hash;
    feed.mine = true;
    const started = performance.now();
    try {
      // one figure object, as Streamlit passes it (pages/common/live_chart.py's keeper expects
      // that)
      Promise.resolve(P.react(gd, {data: fig.data, layout: merged(gd.layout, fig),
                                   config: gd._context})).catch(() => {});
    } catch (error) {
      gd.__liveHash = null;  // drawn again with the next payload
      console.warn("live feed chart:", error);
    } finally { feed.mine = false; }
    feed.cost = 0.7 * feed.cost + 0.3 * (performance.now() - started);
    return true;
  };
  // A page, or a browser, short of CPU redraws its charts less often (up to MAX_CHART_MS
  // apart) until it keeps up again: it spends at most about a tenth of the time drawing
  // (feed.cost: a moving average of a chart's draw, which grows when the CPU is shared) and
  // lets its timers fire on time (feed.lag: how late they fire, a moving average).
  const chartEvery = () => Math.min(MAX_CHART_MS,
                                    Math.max(CHART_MS + 4 * feed.lag, 10 * feed.cost));
  const drain = () => {
    if (feed.timer) return;
    const now = Date.now();
    let wait = Infinity;
    for (const [key, job] of feed.pending) {
      const ready = (feed.drawnAt[key] || 0) + chartEvery();
      if (ready > now) { wait = Math.min(wait, ready - now); continue; }
      feed.pending.delete(key);
      if (draw(key, job)) feed.drawnAt[key] = now;
      wait = 0;
      break;
    }
    if (wait < Infinity)
      feed.timer = setTimeout(() => { feed.timer = null; drain(); }, wait);
  };
  // The polling loop: asks each feed URL with the ETag it has and posts each answer, or why
  // there was none. Each URL has its own loop and every request its own time limit, so one
  // answer that never comes cannot hold the others (or itself) without end. It runs in a Web
  // Worker, a thread of its own, so a page busy drawing (or a browser short of CPU) still asks
  // on time and has the newest payload when it gets to draw; where a worker cannot start (a
  // Content-Security-Policy without blob: workers), it runs here.
  const poller = (period, limit, post, state) => {
    const etags = {}, loops = new Set();
    const poll = async url => {
      const headers = etags[url] ? {"If-None-Match": etags[url]} : {};
      const abort = new AbortController(), timer = setTimeout(() => abort.abort(), limit);
      try {
        const reply = await fetch(url, {headers, cache: "no-store", credentials: "same-origin",
                                        signal: abort.signal});
        if (reply.status === 304) return post({url, ok: true});
        let body = null;
        try { body = await reply.json(); } catch (error) { body = null; }
        if (reply.status === 200 && body) {
          etags[url] = reply.headers.get("ETag");
          return post({url, ok: true, p: body});
        }
        delete etags[url];  // a login page in place of the feed: the session has ended
        post({url, ok: false, status: reply.redirected ? 401 : reply.status,
              error: body && body.error});
      } catch (error) {
        post({url, ok: false, status: 0,
              error: abort.signal.aborted ? "no answer in time" : "the server cannot be reached"});
      } finally { clearTimeout(timer); }
    };
    const loop = async url => {
      loops.add(url);
      try {
        while (state.urls.includes(url)) {
          const started = Date.now();
          if (!state.hidden) await poll(url);
          await new Promise(r => setTimeout(r, Math.max(0, period - (Date.now() - started))));
        }
      } finally { loops.delete(url); }
    };
    state.changed = () => { for (const url of state.urls) if (!loops.has(url)) loop(url); };
    state.changed();
  };
  // How each watched feed is doing: when it last answered, and why it did not since.
  const health = feed.health = {};
  const receive = ({url, ok, p, status, error}) => {
    const h = health[url] || (health[url] = {okAt: Date.now(), ok: null});
    h.ok = ok;
    if (ok) { h.okAt = Date.now(); h.error = null; h.status = 200; } else {
      h.error = error; h.status = status;
    }
    if (p) {
      feed.payloads[url] = p;
      if (!feed.applying) feed.applying = setTimeout(applyAll, 0);  // the newest, once
    }
    notice();
  };
  const applyAll = () => {
    feed.applying = null;
    for (const [url, p] of Object.entries(feed.payloads))
      if (feed.urls.includes(url)) {
        try { applyParts(p); } catch (error) { console.warn("live feed:", error); }
      }
  };
  // A quiet notice while this page is not live: its feed has not answered for STALE_MS, or
  // answered with an error. It goes by itself when the feed answers again (a server back
  // after a restart, a network back); polling never stops.
  const STALE_MS = 6 * PERIOD, GIVE_UP_MS = 60 * PERIOD;
  const notice = () => {
    const now = Date.now();
    let worst = null;
    for (const url of feed.urls) {
      const h = health[url];
      if (!h || document.hidden) continue;
      const age = now - h.okAt;
      if (age < STALE_MS) continue;  // answered (200 or 304) not long ago
      if (!worst || age > worst.age) worst = {age, h};
    }
    let box = document.querySelector(".live-stale");
    if (!worst) { if (box) box.remove(); feed.stale = null; return; }
    const why = worst.h.status === 401 || worst.h.status === 403 ?
      "your session has ended: reload the page to sign in again." :
      worst.h.status === 404 ? "this run is no longer in the workspace." :
      worst.age >= GIVE_UP_MS ? `${worst.h.error || "no answer"}. Still trying; ` +
                                "reload the page to update." :
      `${worst.h.error || "no answer yet"}; reconnecting…`;
    const text = `Not updating: ${why}`;
    if (!box) {
      box = document.createElement("div");
      box.className = "live-stale";
      box.setAttribute("role", "status");
      document.body.appendChild(box);
    }
    if (box.textContent !== text) box.textContent = text;
    feed.stale = text;
  };
  const state = {urls: [], hidden: false};
  let worker = null;
  const inPage = () => { worker = null; feed.worker = false; poller(PERIOD, LIMIT_MS, receive, state); };
  try {
    const source = `const state = {urls: [], hidden: false};
      onmessage = e => { Object.assign(state, e.data); if (state.changed) state.changed(); };
      (${poller})(${PERIOD}, ${LIMIT_MS}, m => postMessage(m), state);`;
    worker = new Worker(URL.createObjectURL(new Blob([source], {type: "text/javascript"})));
    worker.onmessage = e => receive(e.data);
    worker.onerror = () => { if (worker) { worker.terminate(); inPage(); } };
    feed.worker = true;
  } catch (error) { worker = null; }
  if (!worker) inPage();
  // Here, every PERIOD: which feeds this page shows now (Streamlit reruns change that), told to
  // the poller; the payloads applied again (an element a rerun drew anew gets them; unchanged
  // ones cost a hash comparison); the notice; and how late this timer fires, for chartEvery.
  // Nothing that fails in here may stop it: the page would silently stop being live.
  let wasHidden = document.hidden;
  const watch = () => {
    const asked = Date.now();
    try {
      const anchors = [...document.querySelectorAll("[data-live-feed]")];
      const covered = new Set(anchors.filter(a => a.dataset.liveCovers === "sidebar")
        .map(a => a.dataset.liveRun));
      const urls = [...new Set(anchors.filter(a => !(a.dataset.liveFeed.startsWith(
        "__SIDEBAR_URL__?") && covered.has(a.dataset.liveRun))).map(a => a.dataset.liveFeed))];
      const told = {urls: urls.map(u => new URL(u, location.href).href), hidden: document.hidden};
      for (const url of told.urls)  // a feed watched anew, or again after a hidden spell,
        if (!health[url] || (wasHidden && !told.hidden)) health[url] = {okAt: asked, ok: null};  // gets time
      wasHidden = told.hidden;
      feed.urls = told.urls;  // absolute: a worker made from a blob: URL cannot resolve "/_live/"
      if (worker) worker.postMessage(told); else { Object.assign(state, told); state.changed(); }
      applyAll();
      notice();
    } catch (error) {
      console.warn("live feed:", error);
    } finally {
      setTimeout(() => {
        feed.lag = 0.8 * feed.lag + 0.2 * Math.max(0, Date.now() - asked - PERIOD);
        watch();
      }, PERIOD);
    }
  };
  watch();
})();
