// reelgraph explorer: plain JS over the /api endpoints.
const $ = (id) => document.getElementById(id);
const myRatings = new Map();

async function api(path, options) {
  const res = await fetch(path, options);
  const body = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail));
  return body;
}
const run = () => $("run").value;
const fmt = (x) => (x === null || x === undefined ? "" : typeof x !== "number" ? x : Number.isInteger(x) ? String(x) : x.toFixed(3));

function fillTable(id, rows, cols) {
  const tbody = $(id).querySelector("tbody");
  tbody.innerHTML = "";
  for (const r of rows) {
    const tr = document.createElement("tr");
    for (const c of cols) {
      const td = document.createElement("td");
      td.textContent = fmt(r[c]);
      if (typeof r[c] === "number") td.className = "num";
      tr.appendChild(td);
    }
    tbody.appendChild(tr);
  }
}

function drawGraph(user, items) {
  const svg = $("graph"), w = 760, h = 420, cx = w / 2, cy = h / 2;
  svg.innerHTML = "";
  const ns = "http://www.w3.org/2000/svg";
  const add = (tag, attrs, text) => {
    const el = document.createElementNS(ns, tag);
    for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
    if (text) el.textContent = text;
    svg.appendChild(el);
    return el;
  };
  const because = new Map();
  items.forEach((it, i) => {
    const a = (2 * Math.PI * i) / items.length;
    const x = cx + 130 * Math.cos(a), y = cy + 130 * Math.sin(a);
    add("line", { x1: cx, y1: cy, x2: x, y2: y, stroke: "#888", "stroke-width": 1.5 });
    // The score sits on the edge nearer the movie, clear of the user's node and its label.
    add("text", { x: cx + 0.62 * (x - cx) + 4, y: cy + 0.62 * (y - cy) - 4, fill: "#d62728", "font-size": 11 }, it.predicted_rating.toFixed(2) + "★");
    if (it.because_movie_id) {
      if (!because.has(it.because_movie_id)) {
        const b = 2 * Math.PI * because.size / 8 + 0.3;
        because.set(it.because_movie_id, { x: cx + 195 * Math.cos(b), y: cy + 185 * Math.sin(b), title: it.because_title });
      }
      const b = because.get(it.because_movie_id);
      add("line", { x1: x, y1: y, x2: b.x, y2: b.y, stroke: "#999", "stroke-dasharray": "4 3" });
    }
    add("circle", { cx: x, cy: y, r: 7, fill: "#1f77b4" });
    const left = Math.cos(a) < -0.1;  // labels of the left half grow leftwards, away from the centre
    add("text", { x: left ? x - 9 : x + 9, y: y + 3, "text-anchor": left ? "end" : "start" }, it.title.slice(0, 28));
  });
  for (const b of because.values()) {
    add("circle", { cx: b.x, cy: b.y, r: 6, fill: "#9ecae1" });
    add("text", { x: b.x + 8, y: b.y - 6, fill: "#3a7ca5" }, "liked: " + (b.title || "").slice(0, 24));
  }
  add("circle", { cx, cy, r: 12, fill: "#ff7f0e" });
  add("text", { x: cx - 18, y: cy + 26 }, "user " + user);
}

// The year range slider: two thumbs on one track; a thumb at its end leaves that side open.
function chosenYears() {
  const from = $("year-from"), to = $("year-to");
  if (!from.max) return "";  // no catalogue years known
  const lo = from.value === from.min ? "" : from.value, hi = to.value === to.max ? "" : to.value;
  return lo || hi ? `${lo}:${hi}` : "";
}

function showYears(moved) {
  const from = $("year-from"), to = $("year-to");
  if (+from.value > +to.value) (moved === from ? to : from).value = moved.value;  // thumbs never cross
  $("years-shown").textContent = chosenYears() ? `${from.value} – ${to.value}` : "any";
}

async function initYears() {
  const span = await api("/api/years");
  if (span.min === null) { $("years").hidden = true; return; }
  for (const el of [$("year-from"), $("year-to")]) {
    el.min = span.min;
    el.max = span.max;
    el.addEventListener("input", () => showYears(el));
  }
  $("year-from").value = span.min;
  $("year-to").value = span.max;
  showYears($("year-from"));
}

const COLS = ["rank", "title", "year", "genres", "score", "predicted_rating", "because_title"];

function clearResults() {
  fillTable("top", [], COLS);
  fillTable("least", [], COLS);
  $("graph").innerHTML = "";
}

async function recommend() {
  $("error").textContent = "";
  $("note").textContent = "";
  $("results").dataset.ready = "no";
  const params = new URLSearchParams({ user: $("user").value.trim(), k: $("k").value, run: run() });
  const genres = [...$("genres").selectedOptions].map((o) => o.value);
  if (genres.length) params.set("genres", genres.join(","));
  const years = chosenYears();
  if (years) params.set("years", years);
  if ($("min-score").value.trim()) params.set("min_score", $("min-score").value.trim());
  try {
    const top = await api("/api/recommend?" + params);
    params.set("least", "true");
    const least = await api("/api/recommend?" + params);
    fillTable("top", top.items, COLS);
    fillTable("least", least.items, COLS);
    if (top.items.length) drawGraph(top.user, top.items);
    else {
      $("graph").innerHTML = "";
      $("note").textContent = "Nothing matches these filters: widen the genres or years, or lower the minimum score.";
    }
  } catch (e) {
    clearResults();  // never leave an older answer on screen under an error
    $("error").textContent = e.message;
  }
  $("results").dataset.ready = "yes";
}

async function loadRun() {
  const rows = await api(`/api/runs/${run()}/metrics`);
  const test = rows.filter((r) => r.split === "test");
  const names = [...new Set(test.map((r) => (r.k ? `${r.metric}@${r.k}` : r.metric)))]
    .filter((n) => ["rmse", "mae", "recall@20", "ndcg@20", "precision@10", "coverage@20"].includes(n));
  const models = [...new Set(test.map((r) => r.model))];
  $("metrics").querySelector("thead").innerHTML = "<tr><th>model</th>" + names.map((n) => `<th>${n}</th>`).join("") + "</tr>";
  fillTable("metrics", models.map((m) => {
    const o = { model: m };
    for (const r of test.filter((r) => r.model === m)) o[r.k ? `${r.metric}@${r.k}` : r.metric] = r.value;
    return o;
  }), ["model", ...names]);
  const figs = await api(`/api/runs/${run()}/figures`);
  $("figures").innerHTML = figs.map((f) => `<img alt="${f}" src="/api/runs/${run()}/figures/${f}">`).join("");
  const card = await fetch(`/api/runs/${run()}/model_card`);
  $("card").textContent = card.ok ? await card.text() : "(no model card)";
}

let searchSeq = 0;  // answers may arrive out of order: only the latest keystroke's is shown

async function searchMovies() {
  const q = $("movie-search").value.trim();
  const mine = ++searchSeq;
  if (q.length < 2) { $("movie-hits").innerHTML = ""; return; }
  const hits = await api("/api/movies?" + new URLSearchParams({ q })).catch(() => []);
  if (mine !== searchSeq) return;
  const ul = $("movie-hits");
  ul.innerHTML = "";
  for (const m of hits) {
    const li = document.createElement("li");
    const rate = document.createElement("select");  // an inline rating control, no prompt()
    rate.setAttribute("aria-label", `your rating of ${m.title}`);
    rate.innerHTML = '<option value="">rate…</option>' +
      [5, 4.5, 4, 3.5, 3, 2.5, 2, 1.5, 1, 0.5].map((v) => `<option value="${v}">${v}★</option>`).join("");
    rate.onchange = () => {
      if (!rate.value) return;
      myRatings.set(m.movie_id, { title: m.title, rating: parseFloat(rate.value) });
      showMine();
    };
    li.append(rate, " " + m.title);
    ul.appendChild(li);
  }
}

function showMine() {
  const ul = $("my-ratings");
  ul.innerHTML = "";
  for (const [id, r] of myRatings) {
    const li = document.createElement("li");
    const drop = document.createElement("button");
    drop.textContent = "×";
    drop.title = "remove";
    drop.onclick = () => { myRatings.delete(id); showMine(); };
    li.append(`${r.rating}★ ${r.title} `, drop);
    ul.appendChild(li);
  }
}

async function coldStart() {
  $("error").textContent = "";
  try {
    const body = { run: run(), k: 10, ratings: [...myRatings.entries()].map(([movie_id, r]) => ({ movie_id, rating: r.rating })) };
    const res = await api("/api/coldstart", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
    fillTable("cold", res.items, ["rank", "title", "score", "predicted_rating"]);
  } catch (e) {
    $("error").textContent = e.message;
  }
}

// ------------------------------------------------------------------ the runs page

// Titles and ids come from people's exports: escaped before they go into markup.
const esc = (t) => String(t).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);

const gateText = (g) => !g ? "" : g.new ? `${g.held ? "held" : "passed"}: NDCG@${g.k} ${g.new.ndcg.toFixed(4)} vs ${g.old.ndcg.toFixed(4)}, RMSE ${g.new.rmse.toFixed(4)} vs ${g.old.rmse.toFixed(4)} (run ${g.against})` : g.reason;

async function loadRunsPage(runs) {
  const settings = await api("/api/settings");
  const tbody = $("runs").querySelector("tbody");
  tbody.innerHTML = "";
  for (const r of runs) {
    const tr = document.createElement("tr");
    const cells = [r.run_id, r.dataset, r.status + (r.latest ? " (latest)" : ""), fmt(r.test_rmse), fmt(r.test_recall_at_20), gateText(r.gate)];
    cells.forEach((text, i) => {
      const td = document.createElement("td");
      td.textContent = text;
      if (i === 2 && r.status === "held") td.className = "status-held";
      tr.appendChild(td);
    });
    const action = document.createElement("td");
    if (settings.allow_promote && r.status === "held") {
      const button = document.createElement("button");
      button.textContent = "Promote";
      button.onclick = () => promote(r.run_id);
      action.appendChild(button);
    }
    tr.appendChild(action);
    tbody.appendChild(tr);
  }
  const kept = runs.filter((r) => r.status === "published" || r.status === "held");
  const options = kept.map((r) => `<option value="${esc(r.run_id)}">${esc(r.run_id)} (${esc(r.status)})</option>`).join("");
  $("diff-a").innerHTML = options;
  $("diff-b").innerHTML = options;
  if (kept.length > 1) $("diff-a").selectedIndex = 1;  // the newest against the one before
}

async function promote(runId) {
  $("runs-error").textContent = "";
  try {
    await api(`/api/runs/${encodeURIComponent(runId)}/promote`, { method: "POST" });
    await loadRunsPage(await api("/api/runs"));
  } catch (e) {
    $("runs-error").textContent = e.message;
  }
}

async function showDiff() {
  $("runs-error").textContent = "";
  try {
    const d = await api("/api/diff?" + new URLSearchParams({ a: $("diff-a").value, b: $("diff-b").value }));
    const rows = d.metrics.map((m) => `<tr><td>${esc(m.model)}</td><td>${esc(m.metric)}</td><td class="num">${fmt(m.a)}</td><td class="num">${fmt(m.b)}</td><td class="num">${m.change === null ? "" : (m.change >= 0 ? "+" : "") + m.change.toFixed(4)}</td></tr>`).join("");
    const l = d.lists;
    const moved = (ms) => ms.map((m) => `${esc(m.title ?? m.movie_id)} (${m.change > 0 ? "+" : ""}${m.change})`).join(", ") || "none";
    $("diff").innerHTML = `<table><thead><tr><th>model</th><th>metric</th><th>A</th><th>B</th><th>change</th></tr></thead><tbody>${rows}</tbody></table>`
      + `<p id="diff-lists"></p><p>Entered the lists most: ${moved(d.entered)}</p><p>Left the lists most: ${moved(d.left)}</p>`;
    $("diff-lists").textContent = l.users_in_both ? `Top-${l.k} lists of ${l.users_in_both} users in both runs: ${(100 * l.share_changed).toFixed(1)}% changed, ${(100 * l.mean_overlap).toFixed(1)}% of a list kept.` : "No user has a list in both runs.";
  } catch (e) {
    $("runs-error").textContent = e.message;
  }
}

async function init() {
  const all = await api("/api/runs");
  const runs = all.filter((r) => r.status === "published" || r.status === "held");
  $("run").innerHTML = runs.map((r) => `<option value="${r.run_id}">${r.run_id} (${r.dataset})${r.latest ? " — latest" : r.status === "held" ? " — held" : ""}</option>`).join("");
  await loadRunsPage(all);
  $("diff-go").onclick = showDiff;
  const genres = await api("/api/genres");
  $("genres").innerHTML = genres.map((g) => `<option>${g}</option>`).join("");
  await initYears();
  $("user").addEventListener("input", async () => {
    const users = await api("/api/users?" + new URLSearchParams({ q: $("user").value.trim(), run: run() })).catch(() => []);
    $("user-options").innerHTML = users.map((u) => `<option value="${u}">`).join("");
  });
  $("go").onclick = recommend;
  $("run").onchange = loadRun;
  $("movie-search").addEventListener("input", searchMovies);
  $("cold-go").onclick = coldStart;
  if (runs.length) {
    await loadRun();
    const first = await api("/api/users?" + new URLSearchParams({ run: run(), limit: "1" })).catch(() => []);
    if (first.length && !$("user").value) $("user").value = first[0];  // a user to start from
  }
  document.body.dataset.ready = "yes";
}
init().catch((e) => { $("error").textContent = e.message; });
