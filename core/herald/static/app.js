// Herald's /app pages: copy buttons (progressive enhancement; the text stays selectable without it).
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("button[data-copy]").forEach(function (button) {
    var source = document.getElementById(button.getAttribute("data-copy"));
    if (!source) { return; }
    button.hidden = false;
    button.addEventListener("click", function () {
      var text = "value" in source ? source.value : source.textContent;
      var done = function (label) { button.textContent = label; };
      if (navigator.clipboard && navigator.clipboard.writeText) {
        navigator.clipboard.writeText(text).then(function () { done("Copied"); },
                                                 function () { done("Select and copy"); });
      } else {
        done("Select and copy");
      }
    });
  });
});
