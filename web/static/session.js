// The console page's side of the login (web/auth/): every state-changing
// request carries this login's CSRF token, an expired login goes back to the
// login page, and the header shows who is logged in with a way out. Without
// the login cookie (the console served without a login), it does nothing.
(() => {
  "use strict";
  const csrfCookie = document.cookie.split(";").map((c) => c.trim()).find((c) => /^(__Host-)?vigil-csrf-\d+=/.test(c));
  if (csrfCookie === undefined) return;
  const csrf = csrfCookie.slice(csrfCookie.indexOf("=") + 1);
  window.vigilSession = { csrf };

  const toLogin = () => location.assign(`/login?next=${encodeURIComponent(location.pathname)}`);
  const plainFetch = window.fetch.bind(window);
  window.fetch = async (input, init = {}) => {
    const method = (init.method || "GET").toUpperCase();
    if (method !== "GET" && method !== "HEAD") {
      const headers = new Headers(init.headers || {});
      headers.set("x-csrf-token", csrf);
      headers.delete("authorization");
      init = { ...init, headers };
    }
    const res = await plainFetch(input, init);
    if (res.status === 401) toLogin();
    return res;
  };

  const logout = async () => {
    try {
      await window.fetch("/logout", { method: "POST", cache: "no-store" });
    } finally {
      toLogin();
    }
  };

  const show = async () => {
    const res = await plainFetch("/api/session", { cache: "no-store", headers: { accept: "application/json" } });
    if (!res.ok) return toLogin();
    const who = await res.json();
    window.vigilSession.role = who.role;
    document.documentElement.dataset.role = who.role;
    const box = document.createElement("div");
    box.className = "session-box";
    const name = document.createElement("span");
    name.dataset.testid = "session-user";
    name.textContent = who.user;
    const role = document.createElement("span");
    role.className = "session-role";
    role.dataset.testid = "session-role";
    role.textContent = who.role;
    const out = document.createElement("button");
    out.type = "button";
    out.dataset.testid = "logout";
    out.textContent = "Log out";
    out.addEventListener("click", () => void logout());
    box.append(name, role, out);
    (document.querySelector("header.top") || document.body).append(box);
  };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", () => void show());
  else void show();
})();
