// The ops page's two charts, drawn with the vendored uPlot from GET /v1/ops/history.
(function () {
  "use strict";
  var STAGES = ["derive", "meet", "list_replies", "aggregate", "write", "count", "dead_letters"];
  var COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#333"];
  var charts = {};

  function series(labels) {
    return [{}].concat(labels.map(function (label, i) {
      return { label: label, stroke: COLORS[i % COLORS.length], width: 2, spanGaps: true };
    }));
  }

  function draw(id, title, labels, data, yLabel) {
    var el = document.getElementById(id);
    if (charts[id]) { charts[id].setData(data); }
    else {
      charts[id] = new uPlot({
        title: title, width: 560, height: 260, series: series(labels),
        axes: [{}, { label: yLabel }], scales: { x: { time: true } }
      }, data, el);
    }
    el.setAttribute("data-points", String(data[0].length));
  }

  function column(samples, pick) { return samples.map(function (s) { var v = pick(s); return v == null ? null : v; }); }

  function render(history) {
    var samples = history.samples;
    var at = column(samples, function (s) { return s.at; });
    var lag = [at].concat(STAGES.map(function (stage) {
      return column(samples, function (s) { return s.lag[stage] || 0; });
    }));
    lag.push(column(samples, function (s) { return s.total_lag; }));
    draw("lag-chart", "Consumer lag (records)", STAGES.concat(["total"]), lag, "records");
    var fresh = [at,
      column(samples, function (s) { return s.oldest_waiting_s; }),
      column(samples, function (s) { return s.newest_origin_age_s; }),
      column(samples, function (s) { return s.delay_p99_s; })];
    draw("freshness-chart", "Freshness (seconds)",
      ["oldest waiting record", "newest record in graph, age", "event-to-graph p99"], fresh, "seconds");
    document.getElementById("chart-status").textContent =
      samples.length + " samples, every " + history.sample_seconds + " s";
  }

  function refresh() {
    fetch("/v1/ops/history", { credentials: "same-origin" })
      .then(function (r) { if (!r.ok) { throw new Error("HTTP " + r.status); } return r.json(); })
      .then(render)
      .catch(function (e) { document.getElementById("chart-status").textContent = "cannot load history: " + e; });
  }

  refresh();
  setInterval(refresh, 10000);
})();
