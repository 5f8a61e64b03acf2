// Suggests existing feedback while a member types a title, so they can vote instead of filing a duplicate.
(function () {
  "use strict";
  var input = document.querySelector("input[data-similar-url]");
  var box = document.getElementById("similar-feedback");
  if (!input || !box) { return; }
  var list = box.querySelector("ul");
  var url = input.getAttribute("data-similar-url");
  var timer = null;
  var latest = 0;

  function render(results) {
    while (list.firstChild) { list.removeChild(list.firstChild); }
    results.forEach(function (result) {
      var item = document.createElement("li");
      var link = document.createElement("a");
      link.href = result.url;
      link.textContent = result.title;
      var meta = document.createElement("span");
      meta.className = "muted";
      meta.textContent = " · " + result.status + " · +" + result.votes;
      item.appendChild(link);
      item.appendChild(meta);
      list.appendChild(item);
    });
    box.hidden = results.length === 0;
  }

  function search() {
    var query = input.value.trim();
    if (query.length < 3) { render([]); return; }
    var request = ++latest;
    fetch(url + "?q=" + encodeURIComponent(query), { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (response) { return response.ok ? response.json() : { results: [] }; })
      .then(function (data) { if (request === latest) { render(data.results || []); } })
      .catch(function () { render([]); });
  }

  input.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(search, 250);
  });
})();
