// Progressive live search for the picker. The page works fully without this script.
(function () {
  "use strict";
  var form = document.querySelector("form[data-live]");
  var input = document.getElementById("q");
  var list = document.getElementById("results");
  var status = document.getElementById("results-status");
  var more = document.getElementById("more");
  var moreLink = document.getElementById("more-link");
  if (!form || !input || !list || !window.fetch) return;
  var endpoint = form.getAttribute("data-live");
  var timer = null;
  var seq = 0;

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  function card(item) {
    var li = el("li");
    var a = el("a", "source");
    a.href = item.href;
    var badge = el("span", "badge tone-" + Number(item.tone), item.monogram);
    badge.setAttribute("aria-hidden", "true");
    var text = el("span", "source-text");
    text.appendChild(el("span", "source-name", item.name));
    if (item.subtitle) text.appendChild(el("span", "source-sub", item.subtitle));
    a.appendChild(badge);
    a.appendChild(text);
    if (item.recommended) a.appendChild(el("span", "pill", "Recommended"));
    var chev = el("span", "chevron", "\u203a");
    chev.setAttribute("aria-hidden", "true");
    a.appendChild(chev);
    li.appendChild(a);
    return li;
  }

  function render(q, data) {
    while (list.firstChild) list.removeChild(list.firstChild);
    data.results.forEach(function (item) { list.appendChild(card(item)); });
    if (!q) status.textContent = "";
    else if (!data.results.length) status.textContent = "No health systems match \u201c" + q + "\u201d. Try a shorter name or the city.";
    else status.textContent = data.results.length + (data.more_href ? "+" : "") + " results for \u201c" + q + "\u201d";
    if (data.more_href) { moreLink.href = data.more_href; more.hidden = false; } else { more.hidden = true; }
  }

  function search() {
    var q = input.value.trim();
    var mine = ++seq;
    fetch(endpoint + "?q=" + encodeURIComponent(q), { headers: { "Accept": "application/json" }, credentials: "same-origin" })
      .then(function (r) { if (!r.ok) throw new Error(String(r.status)); return r.json(); })
      .then(function (data) { if (mine === seq) render(q, data); })
      .catch(function () { /* keep the server-rendered results; the Search button still works */ });
  }

  input.addEventListener("input", function () {
    if (timer) clearTimeout(timer);
    timer = setTimeout(search, 180);
  });
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    if (timer) clearTimeout(timer);
    search();
  });
})();
