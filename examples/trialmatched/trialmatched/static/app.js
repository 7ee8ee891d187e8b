// TrialMatched progressive enhancement. Every request goes to this app's own backend (same
// origin); the backend talks to ehrconnect with the server-held key. Without JavaScript the
// search form still works (GET /?q=) and the page shows the latest counts on reload.
"use strict";

(function () {
  function searchBox() {
    var form = document.getElementById("facility-search");
    var input = document.getElementById("q");
    var list = document.getElementById("facility-results");
    var status = document.getElementById("search-status");
    var template = document.getElementById("facility-result");
    if (!form || !input || !list || !status || !template) return;
    var timer = null;
    var inflight = null;

    function show(facilities) {
      list.replaceChildren();
      facilities.forEach(function (facility) {
        var item = template.content.firstElementChild.cloneNode(true);
        item.querySelector("input[name=facility_id]").value = facility.id;
        item.querySelector(".name").textContent = facility.name; // text, never HTML
        list.appendChild(item);
      });
      status.textContent = facilities.length ? facilities.length + " found" : "No facilities match.";
    }

    function search() {
      var q = input.value.trim();
      if (inflight) inflight.abort();
      if (q.length < 2) {
        list.replaceChildren();
        status.textContent = "";
        return;
      }
      inflight = new AbortController();
      status.textContent = "Searching…";
      fetch("/api/facilities?q=" + encodeURIComponent(q), {
        credentials: "same-origin",
        headers: { Accept: "application/json" },
        signal: inflight.signal,
      })
        .then(function (response) {
          return response.json().then(function (body) {
            if (!response.ok) throw new Error((body.error && body.error.message) || "Search failed.");
            return body.data;
          });
        })
        .then(show)
        .catch(function (error) {
          if (error.name !== "AbortError") status.textContent = error.message;
        });
    }

    input.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(search, 250);
    });
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      clearTimeout(timer);
      search();
    });
  }

  function dashboardPoll() {
    var section = document.getElementById("facilities");
    if (!section || section.dataset.pulling !== "true") return;
    var deadline = Date.now() + 5 * 60 * 1000;

    function apply(board) {
      var total = document.getElementById("records-total");
      if (total && board.records) total.textContent = board.records;
      board.facilities.forEach(function (facility) {
        var row = section.querySelector('li[data-connection="' + CSS.escape(facility.connection_id) + '"]');
        if (!row) return;
        row.querySelector(".status").textContent = facility.status;
        row.querySelector(".records").textContent = facility.records;
      });
      return board.pulling;
    }

    function tick() {
      fetch("/api/dashboard", { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (response) {
          if (!response.ok) throw new Error("dashboard " + response.status);
          return response.json();
        })
        .then(function (board) {
          if (apply(board) && Date.now() < deadline) setTimeout(tick, 3000);
        })
        .catch(function () {
          if (Date.now() < deadline) setTimeout(tick, 10000);
        });
    }
    setTimeout(tick, 2000);
  }

  document.addEventListener("DOMContentLoaded", function () {
    searchBox();
    dashboardPoll();
  });
})();
