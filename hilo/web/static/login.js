// The sign-in page: the credential goes once to /web/api/session, which answers with the session
// cookie; it is never stored by the page.
"use strict";

Hilo.add({
  "login.title": ["Iniciar sesión en hilo", "Sign in to hilo"],
  "login.intro": ["Entra con tu clave de API (hilo_sk_…) o con el token de tu proveedor de identidad.",
    "Sign in with your API key (hilo_sk_…) or your identity provider's token."],
  "login.label": ["Clave de API o token", "API key or token"],
  "login.help": ["La clave no se guarda en el navegador: abre una sesión en una cookie segura.",
    "The key is not kept in the browser: it opens a session in a secure cookie."],
  "login.submit": ["Entrar", "Sign in"],
  "login.off": ["La autenticación está desactivada en este servidor: entra directamente.",
    "Authentication is off on this server: go straight in."],
  "login.busy": ["Comprobando…", "Checking…"],
});

document.addEventListener("DOMContentLoaded", async () => {
  Hilo.translate();
  Hilo.langSwitch(document.getElementById("lang"));
  const form = document.getElementById("login");
  const input = document.getElementById("credential");
  const error = document.getElementById("login-error");
  const next = new URLSearchParams(location.search).get("next");
  const target = next && next.startsWith("/web/") ? next : "/web/chat";
  const who = await Hilo.me({ required: false });
  if (!who.auth) { document.getElementById("auth-off").hidden = false; }
  if (who.signed_in && who.auth) { location.assign(target); return; }
  input.focus();
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    button.textContent = Hilo.t("login.busy");
    try {
      await Hilo.api("/web/api/session", { method: "POST", json: { credential: input.value } });
      input.value = "";
      location.assign(target);
    } catch (exc) {
      error.textContent = exc.message;
      input.setAttribute("aria-invalid", "true");
      input.select();
    } finally {
      button.disabled = false;
      button.textContent = Hilo.t("login.submit");
    }
  });
});
