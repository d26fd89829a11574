// readnet console: live updates of the monitoring centre (one EventSource per page) and the
// charts (ECharts, vendored). Plain JavaScript, no build step.
(function () {
  "use strict";
  function fmt(iso) {
    if (!iso) return "—";
    var d = new Date(iso);
    var p = function (n) { return (n < 10 ? "0" : "") + n; };
    // Shown in China Standard Time, as the server renders it.
    var t = new Date(d.getTime() + 8 * 3600 * 1000);
    return t.getUTCFullYear() + "-" + p(t.getUTCMonth() + 1) + "-" + p(t.getUTCDate()) + " " +
      p(t.getUTCHours()) + ":" + p(t.getUTCMinutes()) + ":" + p(t.getUTCSeconds());
  }
  function set(key, value) {
    var cell = document.querySelector('[data-cell="' + key + '"]');
    if (!cell) return;
    var text = String(value);
    if (cell.textContent !== text) {
      cell.textContent = text;
      cell.classList.add("flash");
      setTimeout(function () { cell.classList.remove("flash"); }, 1500);
    }
  }
  function figures(prefix, f) {
    Object.keys(f).forEach(function (k) { set(prefix + ":" + k, f[k]); });
  }
  function live() {
    var table = document.getElementById("centre");
    if (!table || !window.EventSource) return;
    var source = new EventSource("/console/stream");
    var liveMark = document.getElementById("live");
    var alerts = document.getElementById("alerts");
    var labels = { open: "", closed: "", silent: "" };
    document.querySelectorAll("td.status").forEach(function (td) {
      ["open", "closed", "silent"].forEach(function (s) { if (td.classList.contains(s)) labels[s] = td.textContent; });
    });
    source.addEventListener("centre", function (e) {
      var c = JSON.parse(e.data);
      liveMark.dataset.live = "1";
      document.getElementById("as-of").textContent = fmt(c.as_of);
      document.body.dataset.position = c.applied_position;
      figures("net", c.totals);
      c.cities.forEach(function (city) {
        figures("city:" + city.city, city.totals);
        city.subtrees.forEach(function (t) {
          figures("tree:" + t.root, t.totals);
          t.rows.forEach(function (r) {
            figures("lib:" + r.library, r.figures);
            set("lib:" + r.library + ":last_activity", fmt(r.last_activity));
            var st = document.querySelector('[data-cell="lib:' + r.library + ':status"]');
            if (st && !st.classList.contains(r.status)) {
              st.className = "status " + r.status;
              st.textContent = labels[r.status] || r.status;
            }
          });
        });
      });
      alerts.innerHTML = "";
      if (c.alerts.length === 0) {
        var none = document.createElement("li"); none.textContent = alerts.dataset.none; alerts.appendChild(none);
      }
      c.alerts.forEach(function (a) {
        var li = document.createElement("li");
        li.textContent = fmt(a.at) + " " + a.name + " (" + a.library + "): " +
          (a.kind === "silent" ? alerts.dataset.silent + " " + fmt(a.at) : a.count + " " + alerts.dataset.overdue);
        alerts.appendChild(li);
      });
    });
    source.onerror = function () { liveMark.dataset.live = "0"; };
  }
  function chart(id, option) {
    var el = document.getElementById(id);
    if (!el || !window.echarts) return;
    var c = echarts.init(el);
    // Drawn at once: a chart that is still growing is not what the numbers say.
    option.animation = false;
    c.setOption(option);
    window.addEventListener("resize", function () { c.resize(); });
    el.dataset.drawn = "1";
  }
  function charts() {
    var node = document.getElementById("chart-data");
    if (!node) return;
    var d = JSON.parse(node.textContent);
    var hours = [];
    for (var h = 0; h < 24; h++) hours.push(h + ":00");
    var hoursEl = document.getElementById("chart-hours");
    if (hoursEl) {
      chart("chart-hours", {
        tooltip: { trigger: "axis" }, legend: {},
        xAxis: { type: "category", data: hours }, yAxis: { type: "value" },
        series: [
          { name: hoursEl.dataset.today + " " + d.today, type: "bar", data: d.hours_today },
          { name: hoursEl.dataset.before + " " + d.before, type: "line", data: d.hours_before }
        ]
      });
    }
    if (d.flows) {
      var cities = d.cities;
      var cells = d.flows.map(function (f) { return [cities.indexOf(f[1]), cities.indexOf(f[0]), f[2]]; });
      var max = Math.max.apply(null, [1].concat(d.flows.map(function (f) { return f[2]; })));
      chart("chart-flows", {
        tooltip: {}, grid: { left: 80 },
        xAxis: { type: "category", data: cities, name: "→" }, yAxis: { type: "category", data: cities },
        visualMap: { min: 0, max: max, calculable: true, orient: "horizontal", left: "center", bottom: 0 },
        series: [{ type: "heatmap", data: cells, label: { show: true } }]
      });
    }
    if (d.titles) {
      var series = Object.keys(d.titles).map(function (city) {
        return { name: city, type: "bar", data: d.titles[city].map(function (t) { return { name: t[0], value: t[1] }; }) };
      });
      chart("chart-titles", {
        tooltip: { formatter: function (p) { return p.seriesName + ": " + p.name + " (" + p.value + ")"; } },
        legend: {}, xAxis: { type: "category", data: Array.from({ length: 10 }, function (_, i) { return "#" + (i + 1); }) },
        yAxis: { type: "value" }, series: series
      });
    }
    if (d.holds) {
      var el = document.getElementById("chart-holds");
      var names = Object.keys(d.holds);
      chart("chart-holds", {
        tooltip: { trigger: "axis" }, legend: {},
        xAxis: { type: "category", data: names }, yAxis: { type: "value" },
        series: [
          { name: el.dataset.median, type: "bar", data: names.map(function (c) { return d.holds[c][1]; }) },
          { name: el.dataset.p90, type: "bar", data: names.map(function (c) { return d.holds[c][2]; }) }
        ]
      });
    }
    if (d.nets) {
      chart("chart-nets", {
        tooltip: {}, xAxis: { type: "category", data: d.nets.map(function (n) { return n[0]; }) },
        yAxis: { type: "value" },
        series: [{ type: "bar", data: d.nets.map(function (n) { return n[1] / 100; }) }]
      });
    }
  }
  live();
  charts();
})();
