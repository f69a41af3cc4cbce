// sensorhub dashboard: polls GET /sensors, keeps one card per sensor and
// updates it in place, so new sensors appear and offline ones turn red
// without a reload. Sensor data is only ever set as text (never as HTML).
(function () {
  "use strict";
  var grid = document.getElementById("grid");
  var filterBox = document.getElementById("filter");
  var summary = document.getElementById("summary");
  var refreshMs = Number(grid.dataset.refreshMs) || 3000;
  var cards = {};          // sensor id -> {el, parts, sensor}
  var groups = {};         // group label -> cards container
  var seriesAvailable = true;   // turned off by the first 404 of the series route
  var seriesFetched = {};  // sensor id -> time of the last series request
  var SERIES_EVERY_MS = 60000;

  function ago(iso, now) {
    if (!iso) return "never";
    var s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
    if (s < 60) return s + " s ago";
    if (s < 3600) return Math.round(s / 60) + " min ago";
    if (s < 86400) return Math.round(s / 3600) + " h ago";
    return Math.round(s / 86400) + " d ago";
  }

  function groupLabel(s) {
    return [s.org || "no org", s.site || "no site", s.room ? (s.building ? s.building + " / " : "") + s.room : "no room"].join(" · ");
  }

  function el(tag, cls, parent) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (parent) parent.appendChild(node);
    return node;
  }

  function groupContainer(label) {
    if (groups[label]) return groups[label];
    var section = el("section", "group");
    el("h2", null, section).textContent = label;
    var cardsBox = el("div", "cards", section);
    var labels = Object.keys(groups).concat([label]).sort();
    var next = labels[labels.indexOf(label) + 1];
    grid.insertBefore(section, next ? groups[next].parentNode : null);
    groups[label] = cardsBox;
    return cardsBox;
  }

  function createCard(s) {
    var card = el("article", "card");
    card.dataset.sensor = s.id;
    var title = el("div", null, card);
    var name = el("span", "name", title);
    var badge = el("span", "badge", title);
    badge.textContent = "too hot";
    badge.hidden = true;
    var status = el("div", "status", card);
    var value = el("div", "value", card);
    var heard = el("div", "heard", card);
    var spark = document.createElementNS("http://www.w3.org/2000/svg", "svg");
    spark.setAttribute("class", "spark");
    spark.setAttribute("viewBox", "0 0 100 32");
    spark.setAttribute("preserveAspectRatio", "none");
    spark.hidden = true;
    card.appendChild(spark);
    return {el: card, parts: {name: name, badge: badge, status: status, value: value, heard: heard, spark: spark}};
  }

  function render(s, now) {
    var entry = cards[s.id];
    var label = groupLabel(s);
    if (!entry) {
      entry = cards[s.id] = createCard(s);
    }
    if (entry.label !== label) {
      groupContainer(label).appendChild(entry.el);
      entry.label = label;
    }
    entry.sensor = s;
    var p = entry.parts;
    p.name.textContent = s.name || s.id;
    p.badge.hidden = !s.too_hot;
    entry.el.classList.toggle("offline", s.status === "offline");
    entry.el.dataset.status = s.status;
    p.status.textContent = s.status;
    p.value.textContent = s.last_reading ? formatValue(s.last_reading.value) + (s.unit ? " " + s.unit : "") : "–";
    p.heard.textContent = "heard " + ago(s.last_heard, now);
    p.heard.title = s.last_heard || "";
    maybeSparkline(s.id, entry, now);
  }

  function formatValue(v) {
    return Math.abs(v) >= 100 ? v.toFixed(0) : v.toFixed(1);
  }

  function maybeSparkline(id, entry, now) {
    if (!seriesAvailable || !entry.sensor.last_reading) return;
    if (seriesFetched[id] && now - seriesFetched[id] < SERIES_EVERY_MS) return;
    seriesFetched[id] = now;
    var start = new Date(now - 6 * 3600 * 1000).toISOString();
    fetch("/v1/sensors/" + encodeURIComponent(id) + "/series?bucket=15m&start=" + encodeURIComponent(start))
      .then(function (r) {
        if (r.status === 404) { seriesAvailable = false; return null; }
        return r.ok ? r.json() : null;
      })
      .then(function (doc) { if (doc) drawSparkline(entry.parts.spark, doc); })
      .catch(function () {});
  }

  function seriesPoints(doc) {
    var list = Array.isArray(doc) ? doc : (doc.buckets || doc.series || doc.points || []);
    return list.map(function (b) { return typeof b === "number" ? b : (b.avg !== undefined ? b.avg : b.value); })
               .filter(function (v) { return typeof v === "number"; });
  }

  function drawSparkline(svg, doc) {
    var values = seriesPoints(doc);
    if (values.length < 2) { svg.hidden = true; return; }
    var min = Math.min.apply(null, values), max = Math.max.apply(null, values), span = max - min || 1;
    var points = values.map(function (v, i) {
      return (i * 100 / (values.length - 1)).toFixed(1) + "," + (30 - (v - min) * 28 / span).toFixed(1);
    }).join(" ");
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    var line = document.createElementNS("http://www.w3.org/2000/svg", "polyline");
    line.setAttribute("points", points);
    svg.appendChild(line);
    svg.hidden = false;
  }

  function applyFilter() {
    var q = filterBox.value.trim().toLowerCase();
    Object.keys(cards).forEach(function (id) {
      var c = cards[id], s = c.sensor;
      var text = [s.id, s.name, s.org, s.site, s.building, s.room, s.mac_address, s.status].join(" ").toLowerCase();
      c.el.hidden = q !== "" && text.indexOf(q) < 0;
    });
    Object.keys(groups).forEach(function (label) {
      var box = groups[label];
      var visible = Array.prototype.some.call(box.children, function (c) { return !c.hidden; });
      box.parentNode.hidden = !visible;
    });
  }

  function refresh() {
    fetch("/sensors", {headers: {"Accept": "application/json"}})
      .then(function (r) { if (!r.ok) throw new Error("HTTP " + r.status); return r.json(); })
      .then(function (doc) {
        var now = Date.parse(doc.server_time) || Date.now();
        doc.sensors.forEach(function (s) { render(s, now); });
        var offline = doc.sensors.filter(function (s) { return s.status === "offline"; }).length;
        summary.textContent = doc.total + " sensors, " + offline + " offline · updated " +
          new Date().toLocaleTimeString();
        applyFilter();
      })
      .catch(function (e) { summary.textContent = "Cannot reach sensorhub (" + e.message + "), retrying…"; })
      .then(function () { setTimeout(refresh, refreshMs); });
  }

  filterBox.addEventListener("input", applyFilter);
  refresh();
})();
