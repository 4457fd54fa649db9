// The login form: posts JSON to /login and, once the session cookie is set, goes where the user was headed.
(() => {
  "use strict";
  const form = document.querySelector('[data-testid="login-form"]');
  const problem = document.querySelector('[data-testid="login-problem"]');
  const button = document.querySelector('[data-testid="login-submit"]');
  const say = (text) => {
    problem.textContent = text;
    problem.hidden = text === "";
  };
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const user = form.elements.namedItem("user").value.trim();
    const password = form.elements.namedItem("password").value;
    if (user === "") return say("type your user name");
    say("");
    button.disabled = true;
    try {
      const next = new URLSearchParams(location.search).get("next") || "/";
      const res = await fetch(`/login?next=${encodeURIComponent(next)}`, {
        method: "POST",
        cache: "no-store",
        headers: { "content-type": "application/json", accept: "application/json" },
        body: JSON.stringify({ user, password }),
      });
      let body = null;
      try {
        body = await res.json();
      } catch {
        body = null;
      }
      if (res.ok && body && typeof body.next === "string") {
        location.assign(body.next);
        return;
      }
      say(body && typeof body.error === "string" ? body.error : `the console answered HTTP ${res.status}`);
      form.elements.namedItem("password").value = "";
    } catch {
      say("the console could not be reached");
    } finally {
      button.disabled = false;
    }
  });
})();
