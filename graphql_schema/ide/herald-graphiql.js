// Herald's GraphiQL start script: the bearer header comes from sessionStorage["herald.apiKey"] (this tab only).
(function () {
  "use strict";
  var STORAGE = "herald.apiKey";
  var key = window.sessionStorage.getItem(STORAGE);
  var form = document.getElementById("herald-key");
  var forget = document.getElementById("herald-forget");
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var value = document.getElementById("herald-key-input").value.trim();
    if (value) {
      window.sessionStorage.setItem(STORAGE, value);
      window.location.reload();
    }
  });
  forget.addEventListener("click", function () {
    window.sessionStorage.removeItem(STORAGE);
    window.location.reload();
  });
  if (key) {
    forget.hidden = false;
  } else {
    form.hidden = false;
  }
  var headers = key ? { Authorization: "Bearer " + key } : {};
  var fetcher = window.GraphiQL.createFetcher({ url: window.location.pathname });
  var root = document.getElementById("graphiql");
  root.textContent = "";
  window.ReactDOM.render(
    window.React.createElement(window.GraphiQL, {
      fetcher: fetcher,
      defaultHeaders: JSON.stringify(headers, null, 2),
      headerEditorEnabled: true,
      shouldPersistHeaders: false,
      defaultEditorToolsVisibility: key ? false : "headers",
    }),
    root
  );
})();
