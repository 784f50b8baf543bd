// The theme the user chose, applied before the page is drawn (a classic script in
// <head>, so a chosen theme that differs from the system's never flashes); app.js
// keeps it in step afterwards. Same key and values as app.js.
(function () {
  try {
    var theme = localStorage.getItem("bedrock-chatbot-theme");
    if (theme === "light" || theme === "dark") document.documentElement.dataset.theme = theme;
  } catch (e) {
    // No storage (a privacy mode): follow the system.
  }
})();
