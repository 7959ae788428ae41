// hilo's web pages: what every page shares. Languages, the API client (session cookie plus the
// CSRF header), who is signed in, small DOM helpers. No framework, no build step.
"use strict";

const Hilo = (() => {
  const LANGS = ["es", "en"];
  const stored = localStorage.getItem("hilo.lang");
  let lang = LANGS.includes(stored) ? stored : "es"; // Spanish first
  const dict = { es: {}, en: {} };

  function add(words) { // {key: ["español", "English"]}
    for (const [key, [es, en]] of Object.entries(words)) { dict.es[key] = es; dict.en[key] = en; }
  }

  function t(key, vars) {
    let text = dict[lang][key] ?? dict.es[key] ?? key;
    for (const [name, value] of Object.entries(vars || {})) text = text.replaceAll(`{${name}}`, String(value));
    return text;
  }

  function translate(root = document) {
    document.documentElement.lang = lang;
    icons(root);
    for (const node of root.querySelectorAll("[data-i18n]")) node.textContent = t(node.dataset.i18n);
    for (const node of root.querySelectorAll("[data-i18n-attr]")) {
      for (const pair of node.dataset.i18nAttr.split(";")) {
        const [attr, key] = pair.split(":");
        if (attr && key) node.setAttribute(attr.trim(), t(key.trim()));
      }
    }
  }

  function setLang(next) {
    lang = LANGS.includes(next) ? next : "es";
    localStorage.setItem("hilo.lang", lang);
    translate();
    document.dispatchEvent(new CustomEvent("hilo:lang", { detail: lang }));
  }

  function langSwitch(button) {
    const show = () => {
      button.textContent = lang === "es" ? "English" : "Español";
      button.setAttribute("lang", lang === "es" ? "en" : "es");
      button.setAttribute("aria-label", lang === "es" ? "Switch to English" : "Cambiar a español");
    };
    show();
    button.addEventListener("click", () => { setLang(lang === "es" ? "en" : "es"); show(); });
  }

  function cookie(name) {
    for (const part of document.cookie.split(";")) {
      const [key, ...rest] = part.trim().split("=");
      if (key === name) return decodeURIComponent(rest.join("="));
    }
    return "";
  }

  class ApiError extends Error {
    constructor(status, message, body) { super(message); this.status = status; this.body = body; }
  }

  function errorText(body, status) {
    const error = body && (body.error || body);
    if (error && typeof error === "object") {
      if (lang === "en" && error.message_en) return error.message_en;
      if (error.message) return error.message;
    }
    if (body && typeof body.error === "string") return body.error;
    if (body && typeof body.detail === "string") return body.detail;
    return t("error.http", { status });
  }

  // Every call the pages make: same origin, the session cookie, and on writes its CSRF token.
  async function api(path, { method = "GET", json, form, signal, raw = false } = {}) {
    const headers = {};
    if (method !== "GET" && method !== "HEAD") headers["X-Hilo-CSRF"] = cookie("hilo_csrf");
    let body;
    if (json !== undefined) { headers["Content-Type"] = "application/json"; body = JSON.stringify(json); }
    if (form !== undefined) body = form;
    const response = await fetch(path, { method, headers, body, signal, credentials: "same-origin" });
    if (raw && response.ok) return response;
    let data = null;
    const type = response.headers.get("content-type") || "";
    if (type.includes("json")) { try { data = await response.json(); } catch { data = null; } }
    if (!response.ok) {
      if (response.status === 401 && !path.startsWith("/web/api/session")) toLogin();
      throw new ApiError(response.status, errorText(data, response.status), data);
    }
    return data;
  }

  function toLogin() {
    const next = location.pathname + location.search + location.hash;
    location.assign("/web/login?next=" + encodeURIComponent(next));
  }

  let who = null;
  async function me({ required = true } = {}) {
    who = await api("/web/api/me");
    if (required && who.auth && !who.signed_in) { toLogin(); return new Promise(() => {}); }
    return who;
  }

  async function signOut() {
    try { await api("/web/api/logout", { method: "POST" }); } finally { location.assign("/web/login"); }
  }

  // el("a", {href: "/x", class: "b", onclick: fn}, "text", child...)
  function el(tag, attrs = {}, ...children) {
    const node = document.createElementNS(tag === "svg" || attrs.svg ? "http://www.w3.org/2000/svg" : "http://www.w3.org/1999/xhtml", tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === undefined || value === null || value === false || key === "svg") continue;
      if (key.startsWith("on") && typeof value === "function") node.addEventListener(key.slice(2), value);
      else if (key === "text") node.textContent = value;
      else node.setAttribute(key, value === true ? "" : value);
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  // Icons as inline SVG (no icon font, no emoji: a server's Chromium may have neither).
  const ICONS = {
    attach: "M16.5 6.5 8.9 14.1a2 2 0 0 0 2.8 2.8l7.1-7.1a4 4 0 0 0-5.7-5.7L6 11.2a6 6 0 0 0 8.5 8.5l6-6",
    mic: "M12 3a3 3 0 0 0-3 3v6a3 3 0 0 0 6 0V6a3 3 0 0 0-3-3zM5 11a7 7 0 0 0 14 0M12 18v3M8 21h8",
    screen: "M3 4h18v12H3zM8 20h8M12 16v4",
    camera: "M4 7h3l2-3h6l2 3h3v13H4zM12 17a4 4 0 1 0 0-8 4 4 0 0 0 0 8z",
    speaker: "M4 9v6h4l5 4V5L8 9zM16 9a4 4 0 0 1 0 6M18.5 6.5a8 8 0 0 1 0 11",
    send: "M4 12 20 4l-6 16-3-7z",
    plus: "M12 5v14M5 12h14",
  };
  function icon(name) {
    const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("class", "icon");
    svg.setAttribute("aria-hidden", "true");
    const path = document.createElementNS("http://www.w3.org/2000/svg", "path");
    path.setAttribute("d", ICONS[name] || "");
    svg.append(path);
    return svg;
  }
  function icons(root = document) {
    for (const node of root.querySelectorAll("[data-icon]")) node.replaceWith(icon(node.dataset.icon));
  }

  function fmtDate(seconds) {
    if (!seconds) return "—";
    return new Date(seconds * 1000).toLocaleString(lang === "es" ? "es-CO" : "en-US",
      { dateStyle: "short", timeStyle: "short" });
  }

  function fmtNumber(value, digits = 0) {
    if (value === null || value === undefined || value === "") return "—";
    return Number(value).toLocaleString(lang === "es" ? "es-CO" : "en-US",
      { maximumFractionDigits: digits, minimumFractionDigits: 0 });
  }

  function fmtMoney(value) {
    if (value === null || value === undefined) return "—";
    return "$" + fmtNumber(value, 0);
  }

  add({
    "error.http": ["El servidor respondió {status}.", "The server answered {status}."],
    "signout": ["Cerrar sesión", "Sign out"],
    "nav.chat": ["Chat", "Chat"],
    "nav.admin": ["Consola", "Console"],
    "nav.status": ["Estado", "Status"],
    "loading": ["Cargando…", "Loading…"],
    "skip": ["Saltar al contenido", "Skip to content"],
  });

  return { add, t, translate, icon, icons, setLang, langSwitch, get lang() { return lang; }, api, ApiError, me,
    get who() { return who; }, signOut, el, fmtDate, fmtNumber, fmtMoney, cookie, toLogin };
})();
