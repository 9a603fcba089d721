// Upload as soon as a file is chosen or dropped on an action point. Listeners sit on the
// document, so parts that htmx swaps in work without binding again.
(function () {
  "use strict";
  function submitWith(form) {
    if (form.requestSubmit) { form.requestSubmit(); } else { form.submit(); }
  }
  // A change that went through clears an earlier error message; polling leaves it alone.
  document.addEventListener("htmx:beforeSwap", function (event) {
    var detail = event.detail;
    if (detail.xhr.status < 400 && detail.requestConfig && detail.requestConfig.verb !== "get") {
      var messages = document.getElementById("meldingen");
      if (messages) { messages.innerHTML = ""; }
    }
  });
  document.addEventListener("change", function (event) {
    var input = event.target;
    if (input.matches && input.matches("form.upload input[type=file]") && input.files.length) {
      submitWith(input.form);
    }
  });
  function zoneOf(event) {
    return event.target.closest ? event.target.closest("[data-dropzone], .document") : null;
  }
  document.addEventListener("dragover", function (event) {
    var zone = zoneOf(event);
    if (zone && zone.querySelector("form.upload")) {
      event.preventDefault();
      zone.classList.add("dragging");
    }
  });
  document.addEventListener("dragleave", function (event) {
    var zone = zoneOf(event);
    if (zone) { zone.classList.remove("dragging"); }
  });
  document.addEventListener("drop", function (event) {
    var zone = zoneOf(event);
    var form = zone && zone.querySelector("form.upload");
    if (!form || !event.dataTransfer || !event.dataTransfer.files.length) { return; }
    event.preventDefault();
    zone.classList.remove("dragging");
    var input = form.querySelector("input[type=file]");
    input.files = event.dataTransfer.files;
    submitWith(form);
  });
})();
