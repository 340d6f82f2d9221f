// The alert desk page, kept live: progress per channel and new sightings from the server-sent
// events of /staff/alerts/{id}/events. The page already shows every number on load and works
// without this script. Text is written with textContent only; the sightings section is the
// server's own escaped fragment, swapped in as parsed nodes.
(function () {
  "use strict";
  var live = document.querySelector("[data-alert-events]");
  if (!live || !window.EventSource) { return; }
  var states = ["queued", "sending", "sent", "failed", "cancelled", "total"];
  var announce = document.getElementById("desk-announce");

  function cell(row, state) {
    var found = row.querySelector("[data-state='" + state + "']");
    if (!found) {
      found = document.createElement("td");
      found.setAttribute("data-state", state);
      row.appendChild(found);
    }
    return found;
  }

  function channelRow(body, name) {
    var row = body.querySelector("tr[data-channel='" + name + "']");
    if (!row) {
      row = document.createElement("tr");
      row.setAttribute("data-channel", name);
      var head = document.createElement("th");
      head.setAttribute("scope", "row");
      head.textContent = name;
      row.appendChild(head);
      states.forEach(function (state) { cell(row, state); });
      body.appendChild(row);
    }
    return row;
  }

  function showProgress(progress) {
    var table = document.getElementById("progress-channels");
    if (table) {
      var body = table.tBodies[0];
      progress.channels.forEach(function (channel) {
        var row = channelRow(body, channel.channel);
        states.forEach(function (state) { cell(row, state).textContent = String(channel[state]); });
      });
    }
    var totals = progress.totals;
    var bar = document.getElementById("progress-bar");
    if (bar) {
      bar.max = Math.max(totals.total, 1);
      bar.value = totals.total ? totals.done : 1;
      bar.textContent = totals.percent + "%";
    }
    var numbers = {"progress-percent": totals.percent + "%", "progress-done": totals.done,
                   "progress-total": totals.total, "progress-sent": totals.sent,
                   "progress-failed": totals.failed, "progress-queued": totals.queued + totals.sending,
                   "alert-status": progress.status};
    Object.keys(numbers).forEach(function (id) {
      var element = document.getElementById(id);
      if (element) { element.textContent = String(numbers[id]); }
    });
    live.setAttribute("data-finished", progress.finished ? "true" : "false");
  }

  function refreshSightings() {
    var section = document.getElementById("sightings");
    if (!section) { return; }
    fetch(section.getAttribute("data-source"), {credentials: "same-origin"})
      .then(function (answer) { return answer.ok ? answer.text() : null; })
      .then(function (html) {
        if (html === null) { return; }
        var parsed = new DOMParser().parseFromString(html, "text/html").getElementById("sightings");
        if (parsed) { section.replaceWith(document.importNode(parsed, true)); }
        if (announce) { announce.textContent = announce.getAttribute("data-sighting"); }
      });
  }

  var source = new EventSource(live.getAttribute("data-alert-events"));
  source.addEventListener("progress", function (event) { showProgress(JSON.parse(event.data)); });
  source.addEventListener("sighting", refreshSightings);
  source.addEventListener("end", function (event) {
    var progress = JSON.parse(event.data);
    showProgress(progress);
    source.close();
    // Ended elsewhere (the family's chat, another desk member): show the page as it now is.
    if (live.getAttribute("data-status") !== progress.status) { window.location.reload(); }
  });
})();
