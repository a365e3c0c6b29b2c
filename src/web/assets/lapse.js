// lapse: small enhancements only; every page works without this file.
"use strict";

// Elements with data-refresh="SECONDS" reload the page while they are shown
// (a running scan's progress), so progress moves without a click.
document.addEventListener("DOMContentLoaded", () => {
  const el = document.querySelector("[data-refresh]");
  if (el) {
    const secs = Math.max(1, parseInt(el.getAttribute("data-refresh"), 10) || 2);
    setTimeout(() => window.location.reload(), secs * 1000);
  }
  // Forms with data-confirm ask before posting (remove, revoke).
  document.querySelectorAll("form[data-confirm]").forEach((form) => {
    form.addEventListener("submit", (event) => {
      if (!window.confirm(form.getAttribute("data-confirm"))) event.preventDefault();
    });
  });
});
