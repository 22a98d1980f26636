// spendlens dashboard: renders the report's daily rows (embedded as JSON in the page) into
// stacked SVG charts and tables. No network, no libraries: the page works from disk.
// Filters (date range, team) live in the URL hash, so a filtered view is a link:
//   dashboard.html#from=2026-10-01&to=2026-10-31&team=search
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("spendlens-data").textContent);
  var SVG = "http://www.w3.org/2000/svg";
  var COLORS = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948",
    "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac", "#1f77b4", "#8c564b"];
  var $ = function (id) { return document.getElementById(id); };
  var fromInput = $("from"), toInput = $("to"), teamSelect = $("team");

  function money(v) {
    return v.toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
  }
  function round6(v) { return Math.round(v * 1e6) / 1e6; }
  function el(name, attrs, text) {
    var e = document.createElement(name);
    Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    if (text !== undefined) { e.textContent = text; }
    return e;
  }
  function svgEl(name, attrs) {
    var e = document.createElementNS(SVG, name);
    Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    return e;
  }
  function days(from, to) {
    var out = [], d = new Date(from + "T00:00:00Z"), end = new Date(to + "T00:00:00Z");
    while (d <= end && out.length < 3700) {
      out.push(d.toISOString().slice(0, 10));
      d.setUTCDate(d.getUTCDate() + 1);
    }
    return out;
  }
  function readHash() {
    var h = {};
    location.hash.replace(/^#/, "").split("&").forEach(function (kv) {
      var i = kv.indexOf("=");
      if (i > 0) { h[decodeURIComponent(kv.slice(0, i))] = decodeURIComponent(kv.slice(i + 1)); }
    });
    return h;
  }
  function writeHash() {
    var parts = ["from=" + fromInput.value, "to=" + toInput.value];
    if (teamSelect.value) { parts.push("team=" + encodeURIComponent(teamSelect.value)); }
    history.replaceState(null, "", "#" + parts.join("&"));
  }

  // A stacked bar chart of `rows` per day, split by `keyOf`; anomalies marked on the timeline.
  function stacked(id, rows, keyOf, dayList, marks) {
    var box = $(id);
    box.textContent = "";
    var totals = {}, byDay = {};
    rows.forEach(function (r) {
      var k = keyOf(r);
      totals[k] = (totals[k] || 0) + r.effective_cost;
      var d = byDay[r.date] || (byDay[r.date] = {});
      d[k] = (d[k] || 0) + r.effective_cost;
    });
    var keys = Object.keys(totals).sort(function (a, b) { return totals[b] - totals[a] || (a < b ? -1 : 1); });
    var W = 960, H = 260, left = 64, bottom = 24, top = 14;
    var max = 0;
    dayList.forEach(function (d) {
      var s = 0, v = byDay[d] || {};
      keys.forEach(function (k) { if (v[k] > 0) { s += v[k]; } });
      if (s > max) { max = s; }
    });
    max = max || 1;
    var svg = svgEl("svg", { viewBox: "0 0 " + W + " " + H, role: "img", "class": "chart" });
    var band = (W - left) / Math.max(dayList.length, 1);
    var y = function (v) { return top + (H - top - bottom) * (1 - v / max); };
    [0, 0.5, 1].forEach(function (f) {
      svg.appendChild(svgEl("line", { x1: left, x2: W, y1: y(max * f), y2: y(max * f), "class": "grid" }));
      var t = svgEl("text", { x: left - 6, y: y(max * f) + 4, "text-anchor": "end", "class": "axis" });
      t.textContent = money(max * f);
      svg.appendChild(t);
    });
    dayList.forEach(function (d, i) {
      var v = byDay[d] || {}, base = 0;
      keys.forEach(function (k, ki) {
        var amount = v[k] || 0;
        if (amount <= 0) { return; }
        var r = svgEl("rect", {
          x: left + i * band + 0.5, width: Math.max(band - 1, 0.5),
          y: y(base + amount), height: Math.max(y(base) - y(base + amount), 0),
          fill: COLORS[ki % COLORS.length], "data-date": d, "data-key": k, "data-value": round6(amount)
        });
        var tip = svgEl("title");
        tip.textContent = d + " " + k + ": " + money(amount) + " " + data.currency;
        r.appendChild(tip);
        svg.appendChild(r);
        base += amount;
      });
      if (i % Math.ceil(dayList.length / 8) === 0) {
        var t = svgEl("text", { x: left + i * band, y: H - 6, "class": "axis" });
        t.textContent = d;
        svg.appendChild(t);
      }
    });
    marks.forEach(function (a) {
      var i = dayList.indexOf(a.date);
      if (i < 0) { return; }
      var x = left + (i + 0.5) * band;
      var m = svgEl("path", {
        d: "M" + (x - 6) + " " + (H - bottom + 12) + " L" + (x + 6) + " " + (H - bottom + 12) + " L" + x + " " + (H - bottom + 2) + " Z",
        "class": "anomaly-marker", "data-date": a.date
      });
      var tip = svgEl("title");
      tip.textContent = a.date + " " + a.kind + " " + a.dimension + " " + a.value + ": " + money(a.impact) + " " + data.currency;
      m.appendChild(tip);
      svg.appendChild(m);
    });
    box.appendChild(svg);
    var legend = el("ul", { "class": "legend" });
    var sum = 0;
    keys.forEach(function (k, ki) {
      sum += totals[k];
      var li = el("li", { "data-key": k, "data-total": round6(totals[k]) });
      li.appendChild(el("span", { "class": "swatch", style: "background:" + COLORS[ki % COLORS.length] }));
      li.appendChild(document.createTextNode(k + " " + money(totals[k])));
      legend.appendChild(li);
    });
    box.setAttribute("data-total", round6(sum));
    box.appendChild(legend);
  }

  function table(id, head, body) {
    var t = $(id);
    t.textContent = "";
    var tr = el("tr");
    head.forEach(function (h) { tr.appendChild(el("th", {}, h)); });
    t.appendChild(el("thead")).appendChild(tr);
    var tb = el("tbody");
    body.forEach(function (row) {
      var r = el("tr", row.attrs || {});
      row.cells.forEach(function (c) { r.appendChild(el("td", typeof c === "number" ? { "class": "num" } : {}, typeof c === "number" ? money(c) : c)); });
      tb.appendChild(r);
    });
    t.appendChild(tb);
  }

  // A `*` glob (as budget selectors write them, case-insensitive) as an anchored regular
  // expression.
  function glob(pattern) {
    return new RegExp("^" + pattern.split("*").map(function (p) {
      return p.replace(/[.+?^${}()|[\]\\]/g, "\\$&");
    }).join(".*") + "$", "i");
  }

  // One budget's period: spend to date (solid), the forecast (dashed) inside its 80% cone,
  // and the amount (a red line).
  function budgetChart(b) {
    var W = 640, H = 200, left = 70, right = 10, top = 24, bottom = 22;
    var dayList = days(b.period.start, b.period.end);
    var last = b.cumulative.length ? b.cumulative[b.cumulative.length - 1] : null;
    var max = Math.max(b.amount, b.forecast_high, b.spent, 1) * 1.05;
    var x = function (d) { return left + (W - left - right) * dayList.indexOf(d) / Math.max(dayList.length - 1, 1); };
    var y = function (v) { return top + (H - top - bottom) * (1 - v / max); };
    var svg = svgEl("svg", { viewBox: "0 0 " + W + " " + H, "class": "chart budget", "data-budget": b.name,
      "data-amount": b.amount, "data-spent": b.spent, "data-forecast": b.forecast, "data-status": b.status });
    var title = svgEl("text", { x: left, y: 14, "class": "axis" });
    title.textContent = b.name + " — " + money(b.spent) + " of " + money(b.amount) + " " + b.currency +
      " spent, " + money(b.forecast) + " forecast (" + b.status.replace("_", " ") + ")";
    svg.appendChild(title);
    [0, 0.5, 1].forEach(function (f) {
      svg.appendChild(svgEl("line", { "class": "grid", x1: left, x2: W - right, y1: y(max * f), y2: y(max * f) }));
      var t = svgEl("text", { "class": "axis", x: left - 6, y: y(max * f) + 4, "text-anchor": "end" });
      t.textContent = money(max * f);
      svg.appendChild(t);
    });
    var spent = b.cumulative.filter(function (d) { return d.spent !== undefined; });
    var ahead = b.cumulative.filter(function (d) { return d.forecast !== undefined; });
    var from = spent.length ? [spent[spent.length - 1].date, spent[spent.length - 1].spent] : null;
    if (ahead.length) {
      var upper = ahead.map(function (d) { return x(d.date) + "," + y(d.forecast_high); });
      var lower = ahead.slice().reverse().map(function (d) { return x(d.date) + "," + y(d.forecast_low); });
      var start = from ? [x(from[0]) + "," + y(from[1])] : [];
      svg.appendChild(svgEl("polygon", { "class": "budget-cone", fill: "#4e79a7", "fill-opacity": 0.18,
        points: start.concat(upper, lower).join(" ") }));
      svg.appendChild(svgEl("polyline", { "class": "budget-forecast", fill: "none", stroke: "#4e79a7", "stroke-dasharray": "5,4",
        points: start.concat(ahead.map(function (d) { return x(d.date) + "," + y(d.forecast); })).join(" ") }));
    }
    if (spent.length) {
      svg.appendChild(svgEl("polyline", { "class": "budget-spent", fill: "none", stroke: "#4e79a7", "stroke-width": 2,
        points: spent.map(function (d) { return x(d.date) + "," + y(d.spent); }).join(" ") }));
    }
    svg.appendChild(svgEl("line", { "class": "budget-amount", stroke: "#e15759", "stroke-dasharray": "8,4",
      x1: left, x2: W - right, y1: y(b.amount), y2: y(b.amount), "data-value": b.amount }));
    [dayList[0], dayList[dayList.length - 1]].forEach(function (d, i) {
      var t = svgEl("text", { "class": "axis", x: x(d), y: H - 4, "text-anchor": i ? "end" : "start" });
      t.textContent = d;
      svg.appendChild(t);
    });
    if (last === null) { svg.setAttribute("data-empty", "true"); }
    return svg;
  }

  // The budgets of the selected team (those pinning it, and those over every team).
  function budgets(team) {
    var box = $("budgets");
    box.textContent = "";
    var shown = (data.budgets || []).filter(function (b) {
      return !team || !b.selector.team || glob(b.selector.team).test(team);
    });
    if (!shown.length) { box.appendChild(el("p", { "class": "muted" }, "No budgets (see [[budgets]] in spendlens.toml).")); }
    shown.forEach(function (b) { box.appendChild(budgetChart(b)); });
  }

  function render() {
    var from = fromInput.value, to = toInput.value, team = teamSelect.value;
    writeHash();
    var rows = data.daily.filter(function (r) {
      return r.date >= from && r.date <= to && (!team || r.team === team);
    });
    // An incident concerns a team when its headline or a member series is the team or one of
    // its features.
    var ofTeam = function (i) {
      var series = [i.headline].concat(i.members);
      return series.some(function (m) {
        return (m.dimension === "team" && m.value === team) ||
          (m.dimension === "team_feature" && m.value.indexOf(team + "/") === 0);
      });
    };
    var incidents = data.incidents.filter(function (i) {
      return i.start <= to && i.end >= from && (!team || ofTeam(i));
    });
    var marks = incidents.filter(function (i) { return i.start >= from; }).map(function (i) {
      return { date: i.start, kind: i.kind, dimension: i.headline.dimension, value: i.headline.value, impact: i.impact };
    });
    var dayList = days(from, to);
    stacked("chart-provider", rows, function (r) { return r.provider_name; }, dayList, marks);
    stacked("chart-team", rows, function (r) { return r.team; }, dayList, marks);
    stacked("chart-model", rows, function (r) { return r.model === null ? "(no model)" : r.model; }, dayList, marks);
    var total = rows.reduce(function (s, r) { return s + r.effective_cost; }, 0);
    var summary = $("summary");
    summary.setAttribute("data-total", round6(total));
    summary.textContent = money(total) + " " + data.currency + " from " + from + " to " + to +
      (team ? " for team " + team : "") + "; " + incidents.length + " incident(s).";

    var tf = {};
    rows.forEach(function (r) {
      var k = r.team + "\u0000" + r.feature;
      tf[k] = (tf[k] || 0) + r.effective_cost;
    });
    table("team-feature", ["team", "feature", "effective " + data.currency],
      Object.keys(tf).sort(function (a, b) { return tf[b] - tf[a]; }).map(function (k) {
        var p = k.split("\u0000");
        return { cells: [p[0], p[1], tf[k]], attrs: { "data-team": p[0], "data-feature": p[1], "data-value": round6(tf[k]) } };
      }));
    var per = function (v) { return v === null || v === undefined ? "—" : v.toFixed(4); };
    var trend = function (v) { return v === null || v === undefined ? "—" : (v >= 0 ? "+" : "") + (v * 100).toFixed(1) + "%"; };
    table("unit-costs", ["team", "feature", "model", data.currency, "per 1K tokens", "per 1K input", "per 1K output", "per request", "trend (7 days)"],
      data.unit_costs.filter(function (u) { return !team || u.team === team; }).map(function (u) {
        return { cells: [u.team, u.feature, u.model, u.effective_cost, per(u.per_1k_tokens), per(u.per_1k_input_tokens), per(u.per_1k_output_tokens), per(u.per_request), trend(u.per_1k_tokens_trend_pct)] };
      }));
    table("anomalies", ["id", "start", "days", "headline", "kind", "severity", "status", "impact " + data.currency, "why"],
      incidents.map(function (i) {
        var why = i.root_causes.slice(0, 2).map(function (r) { return r.dimension + " " + r.value + " " + money(r.impact); }).join("; ");
        var status = i.acknowledgement ? "acked (" + i.acknowledgement.verdict + ")" : "open";
        return { cells: [i.id, i.start, i.duration_days, i.headline.dimension + " " + i.headline.value, i.kind, i.severity, status, i.impact, why], attrs: { "data-date": i.start } };
      }));
    budgets(team);
  }

  var teams = {};
  data.daily.forEach(function (r) { teams[r.team] = true; });
  Object.keys(teams).sort().forEach(function (t) { teamSelect.appendChild(el("option", { value: t }, t)); });
  var h = readHash();
  fromInput.value = h.from || data.period.start;
  toInput.value = h.to || data.period.end;
  teamSelect.value = teams[h.team] ? h.team : "";
  [fromInput, toInput, teamSelect].forEach(function (c) { c.addEventListener("change", render); });
  render();
})();
