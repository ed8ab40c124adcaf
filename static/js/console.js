// Small behaviours of the console pages, kept out of the templates: the Content-Security-Policy allows no
// inline scripts or on*= handlers.
(function () {
  "use strict";

  // <select data-submit-on-change>: choosing a value submits its form (the language switch).
  document.addEventListener("change", function (event) {
    var target = event.target;
    if (target instanceof HTMLSelectElement && target.hasAttribute("data-submit-on-change") && target.form) {
      target.form.submit();
    }
  });

  // <form data-confirm="Question?">: ask before submitting; "Cancel" submits nothing.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form instanceof HTMLFormElement && form.dataset.confirm && !window.confirm(form.dataset.confirm)) {
      event.preventDefault();
      event.stopImmediatePropagation();
    }
  }, true);
})();

(function () {
  "use strict";

  // Under ~900 px the side navigation is a menu the button opens and closes.
  function setupMenu() {
    var toggle = document.querySelector(".menu-toggle");
    var nav = document.getElementById("sidenav");
    if (!toggle || !nav) return;
    toggle.addEventListener("click", function () {
      var open = toggle.getAttribute("aria-expanded") !== "true";
      toggle.setAttribute("aria-expanded", String(open));
      nav.classList.toggle("open", open);
      if (open) {
        var first = nav.querySelector("a");
        if (first) first.focus();
      }
    });
    document.addEventListener("keydown", function (event) {
      if (event.key === "Escape" && nav.classList.contains("open")) {
        nav.classList.remove("open");
        toggle.setAttribute("aria-expanded", "false");
        toggle.focus();
      }
    });
  }

  document.addEventListener("DOMContentLoaded", setupMenu);
})();

/* Type-ahead pickers: an id input marked data-picker-url becomes a search box over the API's `search`.
   The id stays in the (now hidden) input, so the form, the query string and the API filter are unchanged. */
(function () {
  "use strict";
  var counter = 0;

  function labelOf(item, fields) {
    var parts = [];
    fields.split(" ").forEach(function (field) {
      if (item[field] !== undefined && item[field] !== null && item[field] !== "") parts.push(String(item[field]));
    });
    return parts.join(" · ");
  }

  function getJSON(url) {
    return fetch(url, {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (response) { return response.ok ? response.json() : null; });
  }

  function setup(input) {
    if (input.dataset.pickerBound) return;
    input.dataset.pickerBound = "1";
    counter += 1;
    var url = input.dataset.pickerUrl;
    var fields = input.dataset.pickerLabel;
    var listId = "picker-list-" + counter;
    var text = document.createElement("input");
    text.type = "search";
    text.autocomplete = "off";
    text.setAttribute("list", listId);
    text.setAttribute("data-picker-text", input.dataset.pickerKind);
    text.placeholder = input.dataset.pickerPlaceholder || "";
    if (input.id) { text.id = input.id; input.id = input.id + "_value"; }
    var list = document.createElement("datalist");
    list.id = listId;
    input.type = "hidden";
    input.after(text, list);
    var choices = {};
    var timer = null;

    function choose(id) {
      if (input.value === id) return;
      input.value = id;
      input.dispatchEvent(new Event("change", {bubbles: true}));
    }

    if (input.value) {
      getJSON(url + encodeURIComponent(input.value) + "/").then(function (item) {
        if (item) { text.value = labelOf(item, fields); choices[text.value] = String(item.id); }
      });
    }
    // The visible box's own change event must not submit the filter form with a stale id.
    text.addEventListener("change", function (event) {
      event.stopPropagation();
      if (text.value === "") choose("");
      else if (Object.prototype.hasOwnProperty.call(choices, text.value)) choose(choices[text.value]);
    });
    text.addEventListener("input", function () {
      if (Object.prototype.hasOwnProperty.call(choices, text.value)) { choose(choices[text.value]); return; }
      if (text.value === "") { choose(""); return; }
      clearTimeout(timer);
      var query = text.value;
      timer = setTimeout(function () {
        getJSON(url + "?page_size=10&search=" + encodeURIComponent(query)).then(function (page) {
          if (!page || text.value !== query) return;
          list.replaceChildren();
          (page.results || []).forEach(function (item) {
            var option = document.createElement("option");
            option.value = labelOf(item, fields);
            choices[option.value] = String(item.id);
            list.appendChild(option);
          });
          // A name typed in full (the keyboard way, without opening the list) is a choice once it is found.
          if (Object.prototype.hasOwnProperty.call(choices, text.value)) choose(choices[text.value]);
        });
      }, 250);
    });
  }

  function setupAll(root) {
    root.querySelectorAll("input[data-picker-url]").forEach(setup);
  }
  document.addEventListener("DOMContentLoaded", function () { setupAll(document); });
  document.addEventListener("htmx:load", function (event) { setupAll(event.target); });
})();
