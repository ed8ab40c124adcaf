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
