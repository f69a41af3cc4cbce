// sensorhub sensor page: #/sensors/<id>[?range=24h | ?start=<epoch s>&end=<epoch s>],
// a bookmarkable view of one sensor opened from its card. A uPlot chart of
// GET /v1/sensors/<id>/series (average line, min/max band, the site's too-hot
// threshold for thermometers, from GET /v1/admin/toohotornot), the
// sensor's metadata (GET /v1/sensors/<id>), its online/offline events (GET
// /v1/events?sensor=) and a CSV download of the range. The bucket is the
// smallest that keeps a chart within MAX_POINTS; where the range is older
// than the raw readings and the API refuses that bucket (422 naming
// bucket), the next larger one. Requests carry the overview's API key and
// unit (window.sensorhub, from dashboard.js); data is only ever set as text.
// Opened, the keyboard focus is on "← All sensors"; Escape goes back too.
(function () {
  "use strict";
  var shared = window.sensorhub;
  var page = document.getElementById("sensor-page");
  var title = document.getElementById("sensor-title");
  var sub = document.getElementById("sensor-sub");
  var chartBox = document.getElementById("sensor-chart");
  var note = document.getElementById("sensor-chart-note");
  var thresholdNote = document.getElementById("sensor-threshold");
  var meta = document.getElementById("sensor-meta");
  var eventList = document.getElementById("sensor-events");
  var csv = document.getElementById("sensor-csv");
  var custom = document.getElementById("sensor-custom");
  var ranges = document.getElementById("sensor-ranges");
  var RANGES = {"1h": 3600, "24h": 86400, "7d": 7 * 86400, "30d": 30 * 86400, "1y": 365 * 86400};
  var BUCKETS = [["1m", 60], ["5m", 300], ["15m", 900], ["1h", 3600], ["1d", 86400], ["1w", 7 * 86400]];
  var MAX_POINTS = 1000;
  var META_FIELDS = ["id", "name", "kind", "unit", "org", "site", "building", "room", "mac", "mac_address",
                     "reading_interval", "status"];
  var EVENT_TEXT = {"sensor.offline": "went offline", "sensor.online": "came online"};
  var chart = null;
  var shown = 0;  // which openSensor is current: answers to an earlier one are dropped

  function route() {
    var match = /^#\/sensors\/([^?]+)(?:\?(.*))?$/.exec(window.location.hash);
    if (!match) return null;
    var params = new URLSearchParams(match[2] || "");
    var id;
    try { id = decodeURIComponent(match[1]); } catch (e) { return null; }
    var now = Math.floor(Date.now() / 1000);
    var start = Number(params.get("start")), end = Number(params.get("end"));
    if (start > 0 && end > start) return {id: id, range: null, start: start, end: end};
    var range = RANGES[params.get("range")] ? params.get("range") : "24h";
    return {id: id, range: range, start: now - RANGES[range], end: now};
  }

  function bucketIndexFor(span) {
    for (var i = 0; i < BUCKETS.length; i++) if (span / BUCKETS[i][1] <= MAX_POINTS) return i;
    return BUCKETS.length - 1;
  }

  function getJson(url) {
    return fetch(url, {headers: shared.headers()}).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (body) {
        if (r.status === 401 || r.status === 403) shared.askKey();
        if (!r.ok) {
          var error = new Error(body.message || "HTTP " + r.status);
          error.status = r.status;
          error.body = body;
          throw error;
        }
        return body;
      });
    });
  }

  function text(tag, value, parent) {
    var node = document.createElement(tag);
    node.textContent = value;
    if (parent) parent.appendChild(node);
    return node;
  }

  // datetime-local works in the viewer's time zone: "YYYY-MM-DDTHH:MM" of it.
  function localInput(seconds) {
    var d = new Date(seconds * 1000);
    return new Date(d.getTime() - d.getTimezoneOffset() * 60000).toISOString().slice(0, 16);
  }

  function unitQuery(sensor) {
    // The viewer's unit applies to thermometers; the API refuses it for other kinds.
    return sensor.kind === "temperature" ? "&unit=" + shared.unit() : "";
  }

  function showMeta(sensor) {
    meta.textContent = "";
    META_FIELDS.forEach(function (field) {
      var value = sensor[field];
      if (value === null || value === undefined || value === "") return;
      text("dt", field.replace("_", " "), meta);
      text("dd", String(value), meta).dataset.field = field;
    });
    if (sensor.last_reading) {
      text("dt", "last reading", meta);
      text("dd", shared.formatValue(sensor.last_reading.value) + " " + shared.unitText(sensor.last_reading.unit) +
           " at " + sensor.last_reading.at, meta).dataset.field = "last_reading";
    }
  }

  function showEvents(doc) {
    eventList.textContent = "";
    if (!doc.events.length) text("li", "No online/offline events recorded.", eventList);
    doc.events.forEach(function (event) {
      var item = text("li", event.at + " · " + (EVENT_TEXT[event.type] || event.type), eventList);
      item.dataset.type = event.type;
    });
  }

  function threshold(sensor) {
    if (sensor.kind !== "temperature" || !sensor.site) return Promise.resolve(null);
    return getJson("/v1/admin/toohotornot?siteId=" + encodeURIComponent(sensor.site) + "&unit=" + shared.unit())
      .then(function (doc) { return doc.threshold; }, function () { return null; });  // no too-hot site of that id
  }

  function seriesFrom(view, sensor, index) {
    var url = "/v1/sensors/" + encodeURIComponent(view.id) + "/series?start=" + view.start + "&end=" + view.end +
      "&bucket=" + BUCKETS[index][0] + unitQuery(sensor);
    return getJson(url).then(function (doc) { doc.url = url; return doc; }, function (e) {
      var refused = e.status === 422 && e.body && e.body.errors && e.body.errors.query && e.body.errors.query.bucket;
      if (refused && index + 1 < BUCKETS.length) return seriesFrom(view, sensor, index + 1);
      throw e;
    });
  }

  function draw(doc, limit, view) {
    var xs = [], avg = [], low = [], high = [], line = [];
    doc.points.forEach(function (p) {
      xs.push(Date.parse(p.t) / 1000);
      avg.push(p.avg);
      low.push(p.min);
      high.push(p.max);
      line.push(limit);
    });
    var unit = shared.unitText(doc.unit);
    var data = [xs, avg, low, high];
    var series = [{},
      {label: "average", stroke: "#0969da", width: 2, value: function (u, v) { return shared.formatValue(v) + " " + unit; }},
      {label: "min", stroke: "rgba(9,105,218,.35)", width: 1},
      {label: "max", stroke: "rgba(9,105,218,.35)", width: 1}];
    if (limit !== null) {
      data.push(line);
      series.push({label: "too hot above", stroke: "#bc4c00", width: 1.5, dash: [6, 4], points: {show: false}});
    }
    if (chart) chart.destroy();
    chartBox.textContent = "";
    chart = new window.uPlot({
      width: Math.max(280, (chartBox.clientWidth || page.clientWidth) - 16), height: 320,
      series: series,
      bands: [{series: [3, 2], fill: "rgba(9,105,218,.12)"}],
      // The threshold series (legend, y range) only spans the readings: the line goes across the whole chart.
      hooks: {draw: [function (u) {
        if (limit === null) return;
        var y = Math.round(u.valToPos(limit, "y", true)), ctx = u.ctx;
        ctx.save();
        ctx.strokeStyle = "#bc4c00";
        ctx.lineWidth = 1.5 * (window.devicePixelRatio || 1);
        ctx.setLineDash([6, 4]);
        ctx.beginPath();
        ctx.moveTo(u.bbox.left, y);
        ctx.lineTo(u.bbox.left + u.bbox.width, y);
        ctx.stroke();
        ctx.restore();
      }]},
      axes: [{label: "time"}, {label: doc.unit ? unit : "value", size: 60}],
      // The whole range asked for, not only where there are readings (a bucket may start before it).
      scales: {x: {time: true, range: function () { return [Math.min(view.start, xs[0] || view.start), view.end]; }}}
    }, data, chartBox);
    shared.chart = chart;  // the browser tests read what is drawn from here
    chartBox.dataset.bucket = doc.bucket;
    chartBox.dataset.points = String(xs.length);
  }

  function load(view) {
    var mine = ++shown;
    var id = encodeURIComponent(view.id);
    note.textContent = "Loading…";
    Array.prototype.forEach.call(ranges.querySelectorAll("button[data-range]"), function (button) {
      button.setAttribute("aria-pressed", String(button.dataset.range === view.range));
    });
    document.getElementById("sensor-start").value = localInput(view.start);
    document.getElementById("sensor-end").value = localInput(view.end);
    getJson("/v1/sensors/" + id + "?unit=" + shared.unit()).catch(function () {
      return getJson("/v1/sensors/" + id);  // a unit foreign to the sensor's kind, or a sensor of no kind
    }).then(function (sensor) {
      if (mine !== shown) return;
      title.textContent = sensor.name || sensor.id;
      sub.textContent = [sensor.id, sensor.kind, [sensor.org, sensor.site, sensor.building, sensor.room]
        .filter(Boolean).join(" · ")].filter(Boolean).join(" — ");
      showMeta(sensor);
      csv.href = "/v1/sensors/" + id + "/export?format=csv&start=" + view.start + "&end=" + view.end + unitQuery(sensor);
      getJson("/v1/events?sensor=" + id + "&type=sensor.offline&type=sensor.online&limit=50")
        .then(function (doc) { if (mine === shown) showEvents(doc); },
              function (e) { if (mine === shown) eventList.textContent = "Cannot load events: " + e.message; });
      return Promise.all([seriesFrom(view, sensor, bucketIndexFor(view.end - view.start)), threshold(sensor)])
        .then(function (both) {
          if (mine !== shown) return;
          var doc = both[0], limit = both[1];
          draw(doc, limit, view);
          chartBox.dataset.series = doc.url;
          note.textContent = doc.points.length + " points of " + doc.bucket + " from " + doc.window.start + " to " +
            doc.window.end + (doc.points.length ? "" : ": no readings in this range");
          thresholdNote.textContent = limit === null ? (sensor.kind === "temperature" ?
            "No too-hot threshold known for this sensor's site." : "") :
            "Dashed line: the site's too-hot threshold, " + shared.formatValue(limit) + " " + shared.unitText(doc.unit) + ".";
        });
    }).catch(function (e) {
      if (mine === shown) note.textContent = "Cannot show this sensor: " + e.message;
    });
  }

  function show() {
    var view = route();
    var wasShown = !page.hidden;
    document.body.classList.toggle("sensor-view", view !== null);
    page.hidden = view === null;
    if (view === null) {
      if (chart) { chart.destroy(); chart = null; shared.chart = null; }
      if (wasShown) document.dispatchEvent(new Event("sensorhub:overview"));
      return;
    }
    window.scrollTo(0, 0);
    // The keyboard starts on the way back (Escape goes back too).
    if (!wasShown) document.getElementById("sensor-back").focus();
    load(view);
  }

  function go(query) {
    var view = route();
    if (view) window.location.hash = "#/sensors/" + encodeURIComponent(view.id) + "?" + query;
  }

  ranges.addEventListener("click", function (event) {
    var range = event.target && event.target.dataset ? event.target.dataset.range : null;
    if (range) go("range=" + range);
  });
  custom.addEventListener("submit", function (event) {
    event.preventDefault();
    var start = Date.parse(document.getElementById("sensor-start").value) / 1000;
    var end = Date.parse(document.getElementById("sensor-end").value) / 1000;
    if (!(end > start)) { note.textContent = "The end must be after the start."; return; }
    go("start=" + Math.floor(start) + "&end=" + Math.floor(end));
  });
  // With a key, a plain link cannot send it: fetch the file and hand it over as a download.
  csv.addEventListener("click", function (event) {
    var headers = shared.headers();
    if (!headers["X-API-Key"]) return;
    event.preventDefault();
    var name = route().id + ".csv";
    fetch(csv.href, {headers: headers}).then(function (r) {
      if (!r.ok) throw new Error("HTTP " + r.status);
      var given = /filename="([^"]+)"/.exec(r.headers.get("Content-Disposition") || "");
      if (given) name = given[1];
      return r.blob();
    }).then(function (blob) {
      var link = document.createElement("a");
      link.href = URL.createObjectURL(blob);
      link.download = name;
      document.body.appendChild(link);
      link.click();
      link.remove();
      setTimeout(function () { URL.revokeObjectURL(link.href); }, 60000);
    }).catch(function (e) { note.textContent = "Cannot download: " + e.message; });
  });
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && !page.hidden) window.location.hash = "#/";
  });
  window.addEventListener("hashchange", show);
  window.addEventListener("resize", function () {
    if (chart) chart.setSize({width: Math.max(280, chartBox.clientWidth - 16), height: 320});
  });
  document.addEventListener("sensorhub:unit", function () { if (route()) show(); });
  document.addEventListener("sensorhub:key", function () { if (route()) show(); });
  show();
})();
