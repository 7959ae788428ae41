// The admin console: every section reads and changes hilo through its own HTTP APIs (/v1,
// /admin, the packs' routes) with the session cookie; nothing here talks to the database.
// Sections of a pack that is not enabled say so.
"use strict";

Hilo.add({
  "admin.title": ["Consola de administración", "Admin console"],
  "admin.sections": ["Secciones", "Sections"],
  "admin.noadmin": ["Esta consola necesita una sesión de administrador. Tu sesión es de usuario.",
    "This console needs an admin session. Yours is a user session."],
  "s.overview": ["Resumen", "Overview"], "s.assistants": ["Asistentes", "Assistants"],
  "s.users": ["Usuarios y claves", "Users and keys"], "s.conversations": ["Conversaciones", "Conversations"],
  "s.knowledge": ["Conocimiento", "Knowledge"], "s.shop": ["Tienda", "Shop"], "s.council": ["Consejo de trading", "Trading council"],
  "s.webhooks": ["Webhooks", "Webhooks"], "s.health": ["Salud", "Health"], "queue": ["Cola de ejecución", "Run queue"], "closedsales": ["Ventas cerradas", "Closed sales"],
  "notinstalled": ["{part} no está instalado en este servidor (el pack «{pack}» no está habilitado: añádelo a HILO_PACKS).",
    "{part} is not installed on this server (the “{pack}” pack is not enabled: add it to HILO_PACKS)."],
  "none": ["Nada todavía.", "Nothing yet."],
  "save": ["Guardar", "Save"], "saved": ["Guardado.", "Saved."], "create": ["Crear", "Create"],
  "name": ["Nombre", "Name"], "model": ["Modelo", "Model"], "instructions": ["Instrucciones", "Instructions"],
  "tools": ["Herramientas", "Tools"], "stores": ["Almacenes de conocimiento", "Knowledge stores"],
  "owner": ["Dueño", "Owner"], "global": ["global", "global"], "id": ["Id", "Id"],
  "created": ["Creado", "Created"], "edit": ["Editar", "Edit"], "new.assistant": ["Nuevo asistente", "New assistant"],
  "toolshelp": ["Una por línea: el nombre de una herramienta del servidor, o file_search.", "One per line: a server tool's name, or file_search."],
  "storeshelp": ["Ids de almacenes (vs_…), separados por comas.", "Store ids (vs_…), comma-separated."],
  "users": ["Usuarios", "Users"], "keys": ["Claves de API", "API keys"], "entitlements": ["Derechos", "Entitlements"],
  "scope": ["Alcance", "Scope"], "prefix": ["Prefijo", "Prefix"], "lastused": ["Último uso", "Last used"],
  "revoke": ["Revocar", "Revoke"], "revoked": ["revocada", "revoked"], "active": ["activa", "active"],
  "newkey": ["Nueva clave", "New key"], "user": ["Usuario", "User"], "label": ["Etiqueta", "Label"],
  "secretonce": ["Copia la clave ahora: no se volverá a mostrar.", "Copy the key now: it will not be shown again."],
  "entitlementshelp": ["separados por comas, p. ej. premium", "comma-separated, e.g. premium"],
  "assistant": ["Asistente", "Assistant"], "messages": ["Mensajes", "Messages"], "last": ["Última actividad", "Last activity"],
  "open": ["Abrir", "Open"], "runs": ["Ejecuciones", "Runs"], "steps": ["Pasos", "Steps"], "status": ["Estado", "Status"],
  "more": ["Más", "More"], "back": ["Volver", "Back"], "role": ["Rol", "Role"], "content": ["Contenido", "Content"],
  "vstores": ["Almacenes de vectores", "Vector stores"], "files": ["Archivos", "Files"], "ingest": ["Ingestión", "Ingestion"],
  "upload": ["Subir archivo al almacén", "Upload a file to the store"], "newstore": ["Nuevo almacén", "New store"],
  "size": ["Tamaño", "Size"], "uploaded": ["Archivo subido; la ingestión sigue en segundo plano.", "File uploaded; ingestion goes on in the background."],
  "sales": ["Ventas", "Sales"], "revenue": ["Ingresos", "Revenue"], "ticket": ["Ticket promedio", "Average ticket"],
  "units": ["Unidades", "Units"], "conversion": ["Conversión", "Conversion"], "byday": ["Ventas e ingresos por día", "Sales and revenue by day"],
  "topproducts": ["Productos más vendidos", "Top products"], "lowstock": ["Bajo stock", "Low stock"], "orders": ["Pedidos", "Orders"],
  "exports": ["Exportar CSV", "Export CSV"], "from": ["Desde", "From"], "to": ["Hasta", "To"], "apply": ["Aplicar", "Apply"],
  "product": ["Producto", "Product"], "stock": ["Stock", "Stock"], "customer": ["Cliente", "Customer"], "channel": ["Canal", "Channel"],
  "total": ["Total", "Total"], "date": ["Fecha", "Date"], "items": ["Artículos", "Items"],
  "x.inventario": ["Inventario", "Inventory"], "x.clientes": ["Clientes", "Customers"], "x.ventas": ["Ventas", "Sales"],
  "x.rag": ["Búsquedas de las conversaciones", "Conversation searches"], "x.reporte": ["Reporte completo", "Full report"],
  "pending": ["Decisiones pendientes de tu aprobación", "Decisions waiting for your approval"],
  "approve": ["Aprobar", "Approve"], "reject": ["Rechazar", "Reject"], "approved": ["Decisión aprobada: {status}.", "Decision approved: {status}."],
  "rejected": ["Decisión rechazada.", "Decision rejected."], "decisions": ["Decisiones", "Decisions"],
  "action": ["Acción", "Action"], "confidence": ["Confianza", "Confidence"], "symbol": ["Símbolo", "Symbol"],
  "votes": ["Votos", "Votes"], "reasoning": ["Razonamiento", "Reasoning"], "positions": ["Posiciones", "Positions"],
  "portfolio": ["Cartera (papel)", "Portfolio (paper)"], "equity": ["Patrimonio", "Equity"], "available": ["Disponible", "Available"],
  "drawdown": ["Caída desde el máximo", "Drawdown"], "decide": ["Convocar al consejo ahora", "Convene the council now"],
  "models": ["Modelos (calibración walk-forward)", "Models (walk-forward calibration)"],
  "backtests": ["Informes de backtest", "Backtest reports"],
  "backtesthelp": ["Abre el report.json que escribe «hilo council backtest --out report.json»: se dibuja aquí, sin subirlo.",
    "Open the report.json written by “hilo council backtest --out report.json”: it is drawn here, not uploaded."],
  "entry": ["Entrada", "Entry"], "price": ["Precio", "Price"], "pnl": ["G/P", "P&L"], "quantity": ["Cantidad", "Quantity"],
  "note": ["Nota (opcional)", "Note (optional)"], "metric": ["Métrica", "Metric"],
  "endpoints": ["Destinos", "Endpoints"], "deliveries": ["Entregas", "Deliveries"], "retry": ["Reintentar", "Retry"],
  "event": ["Evento", "Event"], "attempts": ["Intentos", "Attempts"], "retried": ["Entrega en cola otra vez.", "Delivery queued again."],
  "database": ["Base de datos", "Database"], "provider": ["Proveedor de modelo", "Model provider"], "channels": ["Canales", "Channels"],
  "ready": ["Listo para tráfico", "Ready for traffic"], "transcription": ["Transcripción", "Transcription"],
  "configured": ["configurado", "configured"], "notconfigured": ["no configurado", "not configured"],
  "k.assistants": ["Asistentes", "Assistants"], "k.users": ["Usuarios", "Users"], "k.conversations": ["Conversaciones", "Conversations"],
  "k.health": ["Estado del servidor", "Server status"], "k.pending": ["Escalamientos pendientes", "Pending escalations"],
  "k.sales30": ["Ventas (30 días)", "Sales (30 days)"],
  "confirmrevoke": ["¿Revocar la clave {prefix}? Sus sesiones terminan.", "Revoke the key {prefix}? Its sessions end."],
});

const { el, t } = Hilo;
const view = () => document.getElementById("view");
const packs = () => (Hilo.who && Hilo.who.packs) || [];

const SECTIONS = [
  ["resumen", "s.overview", overview], ["asistentes", "s.assistants", assistants], ["usuarios", "s.users", users],
  ["conversaciones", "s.conversations", conversations], ["conocimiento", "s.knowledge", knowledge],
  ["tienda", "s.shop", shop], ["consejo", "s.council", council], ["webhooks", "s.webhooks", webhooks],
  ["salud", "s.health", health],
];

// ------------------------------------------------------------------ helpers

function table(columns, rows, { empty = t("none"), caption } = {}) {
  if (!rows.length) return el("p", { class: "muted" }, empty);
  return el("div", { class: "panel" }, el("table", {},
    caption ? el("caption", { class: "sr-only" }, caption) : null,
    el("thead", {}, el("tr", {}, columns.map((c) => el("th", { scope: "col", class: c.num ? "num" : undefined }, c.label)))),
    el("tbody", {}, rows.map((row) => el("tr", {}, columns.map((c) => {
      const value = c.value(row);
      return el("td", { class: c.num ? "num" : undefined }, value instanceof Node ? value : value ?? "—");
    }))))));
}

function kpi(label, value, extra) {
  return el("div", { class: "kpi" }, el("div", { class: "value" }, value), el("div", { class: "label" }, label), extra || null);
}

function pill(text, kind) { return el("span", { class: `pill ${kind || ""}` }, text); }

function message(text, kind = "notice") {
  return el("p", { class: kind === "error" ? "error" : "notice", role: kind === "error" ? "alert" : "status" }, text);
}

function notInstalled(part, pack) {
  return el("p", { class: "notice warn", "data-not-installed": pack }, t("notinstalled", { part, pack }));
}

function field(label, input, help) {
  const id = input.id || `f-${Math.random().toString(36).slice(2, 9)}`;
  input.id = id;
  return [el("label", { for: id }, label), el("div", {}, input, help ? el("p", { class: "muted" }, help) : null)];
}

async function guarded(target, fn) {
  try { await fn(); } catch (exc) { target.append(message(exc.message, "error")); }
}

function json(value) { return el("pre", { class: "json" }, JSON.stringify(value, null, 2)); }

function isoDay(date) { return date.toISOString().slice(0, 10); }

// ------------------------------------------------------------------ overview

async function overview(root) {
  root.append(el("h1", {}, t("s.overview")));
  const grid = el("div", { class: "grid" });
  root.append(grid);
  const [asst, people, convs, status] = await Promise.all([
    Hilo.api("/v1/assistants?limit=100"), Hilo.api("/admin/users?limit=100"),
    Hilo.api("/web/api/admin/conversations?limit=100"), Hilo.api("/", { raw: false }),
  ]);
  assistantNames = new Map(asst.data.map((a) => [a.id, a.name || a.id]));
  grid.append(kpi(t("k.assistants"), Hilo.fmtNumber(asst.data.length) + (asst.has_more ? "+" : "")),
    kpi(t("k.users"), Hilo.fmtNumber(people.data.length) + (people.has_more ? "+" : "")),
    kpi(t("k.conversations"), Hilo.fmtNumber(convs.data.length) + (convs.has_more ? "+" : "")),
    kpi(t("k.health"), status.status === "ok" ? "✓ ok" : "⚠ " + status.status));
  if (packs().includes("council")) {
    const pending = await Hilo.api("/council/trading/decisions?status=pending_approval&limit=100");
    grid.append(kpi(t("k.pending"), Hilo.fmtNumber(pending.data.length), el("a", { href: "#consejo" }, t("s.council"))));
  }
  if (packs().includes("commerce")) {
    const dash = await Hilo.api("/admin/dashboard/ventas");
    grid.append(kpi(t("k.sales30"), Hilo.fmtMoney(dash.totales.ingresos), el("a", { href: "#tienda" }, t("s.shop"))));
    root.append(el("h2", {}, t("byday")), salesChart(dash));
  }
  root.append(el("h2", {}, t("s.conversations")), conversationTable(convs.data.slice(0, 8)));
}

// ------------------------------------------------------------------ assistants

function assistantForm(a, onSaved) {
  const name = el("input", { value: a.name || "" });
  const model = el("input", { value: a.model || "gpt-4o", required: true });
  const instructions = el("textarea", {}, a.instructions || "");
  const tools = el("textarea", { rows: 3 }, (a.tools || []).map((x) => x.type === "function" ? x.function.name : x.type).join("\n"));
  const stores = el("input", { value: ((a.tool_resources || {}).file_search || {}).vector_store_ids?.join(", ") || "" });
  const out = el("div", {});
  const form = el("form", { class: "panel form-grid", "data-assistant": a.id || "new" },
    field(t("name"), name), field(t("model"), model), field(t("instructions"), instructions),
    field(t("tools"), tools, t("toolshelp")), field(t("stores"), stores, t("storeshelp")),
    el("span", {}), el("div", { class: "row" }, el("button", { type: "submit", class: "primary" }, a.id ? t("save") : t("create")), out));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    out.replaceChildren();
    const names = tools.value.split(/\s+/).map((s) => s.trim()).filter(Boolean);
    const ids = stores.value.split(",").map((s) => s.trim()).filter(Boolean);
    const body = { name: name.value || null, model: model.value, instructions: instructions.value || null,
      tools: names.map((n) => n === "file_search" ? { type: "file_search" } : { type: "function", function: { name: n } }),
      tool_resources: { file_search: { vector_store_ids: ids } } };
    try {
      const saved = await Hilo.api(a.id ? `/v1/assistants/${a.id}` : "/v1/assistants", { method: "POST", json: body });
      out.append(message(t("saved")));
      if (onSaved) onSaved(saved);
    } catch (exc) { out.append(message(exc.message, "error")); }
  });
  return form;
}

async function assistants(root) {
  root.append(el("h1", {}, t("s.assistants")));
  const list = await Hilo.api("/v1/assistants?limit=100&order=asc");
  const editor = el("div", {});
  root.append(table([
    { label: t("name"), value: (a) => el("strong", {}, a.name || a.id) },
    { label: t("model"), value: (a) => el("code", {}, a.model) },
    { label: t("tools"), value: (a) => (a.tools || []).map((x) => x.type === "function" ? x.function.name : x.type).join(", ") || "—" },
    { label: t("stores"), value: (a) => ((a.tool_resources || {}).file_search || {}).vector_store_ids?.join(", ") || "—" },
    { label: t("owner"), value: (a) => a.metadata && a.metadata.hilo_pack ? `pack ${a.metadata.hilo_pack}` : t("global") },
    { label: "", value: (a) => el("button", { type: "button", onclick: () => { editor.replaceChildren(el("h2", {}, `${t("edit")}: ${a.name || a.id}`), assistantForm(a)); editor.querySelector("input").focus(); } }, t("edit")) },
  ], list.data), editor);
  root.append(el("h2", {}, t("new.assistant")), assistantForm({}, () => show("asistentes")));
}

// ------------------------------------------------------------------ users and keys

async function users(root) {
  root.append(el("h1", {}, t("s.users")));
  const [people, keys] = await Promise.all([Hilo.api("/admin/users?limit=100"), Hilo.api("/admin/keys?limit=100")]);
  const names = new Map(people.data.map((u) => [u.id, u.name]));
  root.append(el("h2", {}, t("users")), table([
    { label: t("name"), value: (u) => u.name },
    { label: t("entitlements"), value: (u) => {
      const input = el("input", { value: (u.entitlements || []).join(", "), "aria-label": `${t("entitlements")}: ${u.name}` });
      const out = el("span", {});
      return el("form", { class: "row", onsubmit: async (event) => {
        event.preventDefault();
        try {
          await Hilo.api(`/admin/users/${u.id}`, { method: "PATCH", json: { entitlements: input.value.split(",").map((s) => s.trim()).filter(Boolean) } });
          out.textContent = "✓";
        } catch (exc) { out.textContent = exc.message; }
      } }, input, el("button", { type: "submit" }, t("save")), out);
    } },
    { label: t("created"), value: (u) => Hilo.fmtDate(u.created_at) },
    { label: t("id"), value: (u) => el("code", {}, u.id) },
  ], people.data));
  root.append(el("h2", {}, t("keys")), table([
    { label: t("prefix"), value: (k) => el("code", {}, k.prefix + "…") },
    { label: t("user"), value: (k) => names.get(k.user_id) || k.user_id },
    { label: t("scope"), value: (k) => pill(k.scope, k.scope === "admin" ? "warn" : "") },
    { label: t("label"), value: (k) => k.name },
    { label: t("lastused"), value: (k) => Hilo.fmtDate(k.last_used_at) },
    { label: t("status"), value: (k) => k.revoked_at ? pill(t("revoked"), "bad") : pill(t("active"), "good") },
    { label: "", value: (k) => k.revoked_at ? "" : el("button", { type: "button", class: "danger", onclick: async () => {
      if (!confirm(t("confirmrevoke", { prefix: k.prefix }))) return;
      await Hilo.api(`/admin/keys/${k.id}`, { method: "DELETE" });
      show("usuarios");
    } }, t("revoke")) },
  ], keys.data));
  const user = el("input", { required: true });
  const scope = el("select", {}, el("option", { value: "user" }, "user"), el("option", { value: "admin" }, "admin"));
  const label = el("input", {});
  const out = el("div", {});
  const form = el("form", { class: "panel form-grid" }, field(t("user"), user),
    field(t("scope"), scope), field(t("label"), label), el("span", {}),
    el("div", {}, el("button", { type: "submit", class: "primary" }, t("create")), out));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    out.replaceChildren();
    try {
      const made = await Hilo.api("/admin/keys", { method: "POST", json: { user: user.value, scope: scope.value, name: label.value || null } });
      out.append(message(t("secretonce")), el("p", {}, el("code", { class: "secret" }, made.secret)));
    } catch (exc) { out.append(message(exc.message, "error")); }
  });
  root.append(el("h2", {}, t("newkey")), form);
}

// ------------------------------------------------------------------ conversations

let assistantNames = new Map();
async function loadAssistantNames() {
  const page = await Hilo.api("/v1/assistants?limit=100");
  assistantNames = new Map(page.data.map((a) => [a.id, a.name || a.id]));
}

function conversationTable(rows) {
  return table([
    { label: t("user"), value: (c) => c.user || c.user_id || "—" },
    { label: t("assistant"), value: (c) => assistantNames.get(c.assistant_id) || el("code", {}, c.assistant_id || "—") },
    { label: t("messages"), value: (c) => Hilo.fmtNumber(c.messages), num: true },
    { label: t("last"), value: (c) => Hilo.fmtDate(c.last_message_at || c.created_at) },
    { label: "", value: (c) => el("a", { href: `#conversaciones/${c.thread_id}` }, t("open")) },
  ], rows);
}

async function conversations(root, threadId) {
  if (threadId) return conversation(root, threadId);
  root.append(el("h1", {}, t("s.conversations")));
  await loadAssistantNames();
  let offset = 0;
  const holder = el("div", {});
  const more = el("button", { type: "button" }, t("more"));
  root.append(holder, more);
  const load = async () => {
    const page = await Hilo.api(`/web/api/admin/conversations?limit=30&offset=${offset}`);
    holder.append(conversationTable(page.data));
    offset += page.data.length;
    more.hidden = !page.has_more;
  };
  more.addEventListener("click", () => guarded(root, load));
  await load();
}

function textOf(message) {
  return (message.content || []).map((p) => p.type === "text" ? p.text.value : `[${p.type}]`).join("\n");
}

async function conversation(root, threadId) {
  root.append(el("p", {}, el("a", { href: "#conversaciones" }, "← " + t("back"))), el("h1", {}, el("code", {}, threadId)));
  const [msgs, runs] = await Promise.all([
    Hilo.api(`/v1/threads/${threadId}/messages?order=asc&limit=100`),
    Hilo.api(`/v1/threads/${threadId}/runs?order=desc&limit=50`),
  ]);
  root.append(el("h2", {}, t("messages")), table([
    { label: t("date"), value: (m) => Hilo.fmtDate(m.created_at) },
    { label: t("role"), value: (m) => pill(m.role, m.role === "user" ? "" : "good") },
    { label: t("content"), value: (m) => el("div", { class: "reasoning" }, textOf(m)) },
  ], msgs.data));
  root.append(el("h2", {}, t("runs")));
  const list = el("div", { class: "grid wide" });
  root.append(list);
  for (const run of runs.data) {
    const steps = el("div", {});
    const details = el("details", { class: "panel" }, el("summary", {},
      pill(run.status, run.status === "completed" ? "good" : run.status === "failed" ? "bad" : "warn"), " ",
      el("code", {}, run.id), " · ", run.model, " · ", Hilo.fmtDate(run.created_at)), steps);
    details.addEventListener("toggle", async () => {
      if (!details.open || steps.childElementCount) return;
      const page = await Hilo.api(`/v1/threads/${threadId}/runs/${run.id}/steps?order=asc&limit=100`);
      steps.append(table([
        { label: t("steps"), value: (s) => s.type },
        { label: t("status"), value: (s) => s.status },
        { label: t("tools"), value: (s) => ((s.step_details || {}).tool_calls || []).map((c) => c.type === "function" ? `${c.function.name}(${c.function.arguments})` : c.type).join("; ") || "—" },
      ], page.data));
      if (run.last_error) steps.append(message(run.last_error.message, "error"));
      if (run.usage) steps.append(el("p", { class: "muted" }, `tokens: ${run.usage.prompt_tokens} + ${run.usage.completion_tokens}`));
    });
    list.append(details);
  }
  if (!runs.data.length) list.append(el("p", { class: "muted" }, t("none")));
}

// ------------------------------------------------------------------ knowledge

async function knowledge(root, storeId) {
  root.append(el("h1", {}, t("s.knowledge")));
  const stores = await Hilo.api("/v1/vector_stores?limit=100");
  root.append(el("h2", {}, t("vstores")), table([
    { label: t("name"), value: (s) => s.name || "—" },
    { label: t("id"), value: (s) => el("code", {}, s.id) },
    { label: t("files"), value: (s) => Hilo.fmtNumber(s.file_counts.total), num: true },
    { label: t("ingest"), value: (s) => {
      const c = s.file_counts;
      const pct = c.total ? Math.round(100 * (c.completed + c.failed + c.cancelled) / c.total) : 100;
      return el("div", { class: "row" }, el("div", { class: "progress", role: "progressbar", "aria-valuenow": pct, "aria-valuemin": 0, "aria-valuemax": 100 },
        el("span", { style: undefined, "data-pct": pct })), `${pct} %`, c.failed ? pill(`${c.failed} ✕`, "bad") : "");
    } },
    { label: t("size"), value: (s) => Hilo.fmtNumber((s.usage_bytes || 0) / 1024, 1) + " KB", num: true },
    { label: "", value: (s) => el("a", { href: `#conocimiento/${s.id}` }, t("open")) },
  ], stores.data));
  for (const bar of root.querySelectorAll(".progress > span")) bar.style.width = bar.dataset.pct + "%";
  const name = el("input", {});
  const made = el("div", {});
  const create = el("form", { class: "row" }, field(t("name"), name), el("button", { type: "submit" }, t("newstore")), made);
  create.addEventListener("submit", async (event) => {
    event.preventDefault();
    try { const s = await Hilo.api("/v1/vector_stores", { method: "POST", json: { name: name.value || null } }); location.hash = `conocimiento/${s.id}`; }
    catch (exc) { made.append(message(exc.message, "error")); }
  });
  root.append(create);
  const ingesting = stores.data.some((s) => s.file_counts.in_progress > 0);
  if (ingesting) { // ingestion runs in the background: show its progress as it goes
    const here = location.hash;
    setTimeout(() => { if (location.hash === here) show(here.slice(1)); }, 2000);
  }
  if (!storeId) return;
  const files = await Hilo.api(`/v1/vector_stores/${storeId}/files?limit=100`);
  const names = new Map();
  await Promise.all(files.data.map(async (f) => {
    try { names.set(f.id, (await Hilo.api(`/v1/files/${f.id}`)).filename); } catch { names.set(f.id, f.id); }
  }));
  root.append(el("h2", {}, `${t("files")} · `, el("code", {}, storeId)), table([
    { label: t("name"), value: (f) => names.get(f.id) },
    { label: t("status"), value: (f) => pill(f.status, f.status === "completed" ? "good" : f.status === "failed" ? "bad" : "warn") },
    { label: t("size"), value: (f) => Hilo.fmtNumber((f.usage_bytes || 0) / 1024, 1) + " KB", num: true },
    { label: "", value: (f) => f.last_error ? f.last_error.message : "" },
  ], files.data));
  const input = el("input", { type: "file", multiple: true });
  const out = el("div", {});
  const form = el("form", { class: "panel row" }, field(t("files"), input), el("button", { type: "submit", class: "primary" }, t("upload")), out);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    out.replaceChildren();
    try {
      for (const file of input.files) {
        const data = new FormData();
        data.append("purpose", "assistants");
        data.append("file", file, file.name);
        const uploaded = await Hilo.api("/v1/files", { method: "POST", form: data });
        await Hilo.api(`/v1/vector_stores/${storeId}/files`, { method: "POST", json: { file_id: uploaded.id } });
      }
      out.append(message(t("uploaded")));
      setTimeout(() => show(`conocimiento/${storeId}`), 800);
    } catch (exc) { out.append(message(exc.message, "error")); }
  });
  root.append(form);
}

// ------------------------------------------------------------------ shop

function salesChart(dash) {
  const days = dash.ventas_por_dia || [];
  const box = el("div", { class: "panel", id: "sales-chart" });
  box.append(Charts.legend([[t("revenue"), ""], [t("sales"), "alt"]]));
  box.append(Charts.bars({
    label: `${t("byday")}: ${dash.desde} – ${dash.hasta}`,
    labels: days.map((d) => d.fecha.slice(5)), values: days.map((d) => Number(d.ingresos)),
    format: (v) => v >= 1e6 ? `${Hilo.fmtNumber(v / 1e6, 1)} M` : v >= 1e3 ? `${Hilo.fmtNumber(v / 1e3, 0)} k` : Hilo.fmtNumber(v),
    line: { values: days.map((d) => d.ventas), format: (v) => Hilo.fmtNumber(v, 1), name: t("sales") },
  }));
  return box;
}

async function shop(root) {
  root.append(el("h1", {}, t("s.shop")));
  if (!packs().includes("commerce")) { root.append(notInstalled(t("s.shop"), "commerce")); return; }
  const params = new URLSearchParams(location.hash.split("?")[1] || "");
  const since = el("input", { type: "date", value: params.get("desde") || "" });
  const until = el("input", { type: "date", value: params.get("hasta") || "" });
  const filter = el("form", { class: "row panel" }, el("label", {}, t("from"), " ", since), el("label", {}, t("to"), " ", until),
    el("button", { type: "submit" }, t("apply")));
  filter.addEventListener("submit", (event) => {
    event.preventDefault();
    const q = new URLSearchParams();
    if (since.value) q.set("desde", since.value);
    if (until.value) q.set("hasta", until.value);
    location.hash = "tienda?" + q.toString();
  });
  root.append(filter);
  const range = new URLSearchParams();
  if (params.get("desde")) range.set("desde", params.get("desde"));
  if (params.get("hasta")) range.set("hasta", params.get("hasta"));
  const orderRange = new URLSearchParams();
  if (params.get("desde")) orderRange.set("fecha_desde", params.get("desde"));
  if (params.get("hasta")) orderRange.set("fecha_hasta", params.get("hasta"));
  const [dash, sales, orders] = await Promise.all([
    Hilo.api(`/admin/dashboard/ventas?${range}&top=10`), Hilo.api(`/admin/ventas?${range}&limit=20`),
    Hilo.api(`/pedidos/?${orderRange}&limit=20`),
  ]);
  const totals = dash.totales;
  root.append(el("div", { class: "grid" }, kpi(t("sales"), Hilo.fmtNumber(totals.ventas)), kpi(t("revenue"), Hilo.fmtMoney(totals.ingresos)),
    kpi(t("ticket"), Hilo.fmtMoney(totals.ticket_promedio)), kpi(t("units"), Hilo.fmtNumber(totals.unidades)),
    kpi(t("conversion"), `${Hilo.fmtNumber(dash.conversion.porcentaje, 1)} %`)));
  root.append(el("h2", {}, `${t("byday")} (${dash.desde} – ${dash.hasta}, ${dash.zona_horaria})`), salesChart(dash));
  const top = dash.top_productos.por_ingresos || [];
  const grid = el("div", { class: "grid wide" });
  root.append(grid);
  grid.append(el("section", {}, el("h2", {}, t("topproducts")), table([
    { label: t("product"), value: (p) => p.nombre }, { label: t("units"), value: (p) => Hilo.fmtNumber(p.unidades), num: true },
    { label: t("revenue"), value: (p) => Hilo.fmtMoney(p.ingresos), num: true },
  ], top)));
  grid.append(el("section", {}, el("h2", {}, `${t("lowstock")} (≤ ${dash.bajo_stock.umbral}: ${dash.bajo_stock.total})`), table([
    { label: t("product"), value: (p) => p.nombre }, { label: t("stock"), value: (p) => pill(String(p.stock), p.stock ? "warn" : "bad"), num: true },
  ], dash.bajo_stock.productos.slice(0, 12))));
  // Every order, whatever its state (held, collecting data, pending, closed, cancelled), newest first.
  root.append(el("h2", {}, `${t("orders")} (${orders.total})`), table([
    { label: "#", value: (o) => o.id, num: true }, { label: t("date"), value: (o) => (o.creado || "").replace("T", " ").slice(0, 16) },
    { label: t("status"), value: (o) => pill(o.estado, o.estado === "cerrada" ? "good" : o.estado === "cancelada" ? "bad" : "warn") },
    { label: t("customer"), value: (o) => `${o.cliente.nombre || ""} ${o.cliente.cedula ? "· " + o.cliente.cedula : ""}` },
    { label: t("items"), value: (o) => o.items.map((i) => `${i.cantidad ?? ""}× ${i.nombre ?? i.producto_id ?? ""}`).join(", ") },
    { label: t("total"), value: (o) => Hilo.fmtMoney(o.total), num: true },
  ], orders.pedidos));
  root.append(el("h2", {}, `${t("closedsales")} (${sales.total})`), table([
    { label: "#", value: (o) => o.id, num: true }, { label: t("date"), value: (o) => (o.cerrado || o.creado || "").replace("T", " ").slice(0, 16) },
    { label: t("customer"), value: (o) => `${o.cliente.nombre || ""} ${o.cliente.cedula ? "· " + o.cliente.cedula : ""}` },
    { label: t("channel"), value: (o) => o.canal }, { label: t("items"), value: (o) => o.items.map((i) => `${i.cantidad ?? ""}× ${i.nombre ?? i.producto_id ?? ""}`).join(", ") },
    { label: t("total"), value: (o) => Hilo.fmtMoney(o.total), num: true },
  ], sales.ventas));
  const q = range.toString();
  root.append(el("h2", {}, t("exports")), el("p", { class: "row" }, [
    ["inventario", "x.inventario"], ["clientes", "x.clientes"], ["ventas", "x.ventas"], ["conversaciones-rag", "x.rag"], ["reporte-completo", "x.reporte"],
  ].map(([path, key]) => el("a", { class: "button", href: `/exportar/${path}${q && path !== "inventario" ? "?" + q : ""}`, download: "" }, "↓ ", t(key)))));
}

// ------------------------------------------------------------------ council

function votesTable(d) {
  const first = (d.rounds && d.rounds[d.rounds.length - 1]) || [];
  return table([
    { label: t("role"), value: (a) => a.assistant_id }, { label: t("action"), value: (a) => pill(a.recommendation, a.recommendation === "BUY" ? "good" : a.recommendation === "SELL" ? "bad" : "") },
    { label: t("confidence"), value: (a) => `${Hilo.fmtNumber(a.confidence * 100, 0)} %`, num: true },
    { label: t("reasoning"), value: (a) => el("span", { class: "reasoning" }, a.reasoning) },
  ], first);
}

function decisionCard(d, pending) {
  const note = el("input", { "aria-label": t("note"), placeholder: t("note") });
  const out = el("div", {});
  const resolve = async (how) => {
    out.replaceChildren();
    try {
      const done = await Hilo.api(`/council/trading/decisions/${d.id}/${how}`, { method: "POST", json: { note: note.value || null } });
      out.append(message(how === "approve" ? t("approved", { status: done.status }) : t("rejected")));
      card.dataset.status = done.status;
      for (const b of card.querySelectorAll("button.resolve")) b.disabled = true;
    } catch (exc) { out.append(message(exc.message, "error")); }
  };
  const card = el("article", { class: "panel decision", "data-decision": d.id, "data-status": d.status },
    el("div", { class: "row" }, el("strong", {}, `${d.symbol} · ${d.timeframe}`), pill(d.action, d.action === "BUY" ? "good" : d.action === "SELL" ? "bad" : ""),
      `${t("confidence")} ${Hilo.fmtNumber(d.confidence * 100, 0)} %`, pill(d.status, d.status === "pending_approval" ? "warn" : ""), el("span", { class: "muted" }, Hilo.fmtDate(d.created_at))),
    d.reasoning ? el("p", { class: "reasoning" }, d.reasoning) : null,
    el("details", { open: pending }, el("summary", {}, t("votes")), votesTable(d)),
    pending ? el("div", { class: "row" }, note,
      el("button", { type: "button", class: "good resolve", onclick: () => resolve("approve") }, "✓ ", t("approve")),
      el("button", { type: "button", class: "danger resolve", onclick: () => resolve("reject") }, "✕ ", t("reject"))) : null,
    out);
  return card;
}

async function council(root) {
  root.append(el("h1", {}, t("s.council")));
  if (!packs().includes("council")) { root.append(notInstalled(t("s.council"), "council")); return; }
  const [pending, recent, portfolio, models] = await Promise.all([
    Hilo.api("/council/trading/decisions?status=pending_approval&limit=50"), Hilo.api("/council/trading/decisions?limit=20"),
    Hilo.api("/council/portfolio"), Hilo.api("/council/reports/models?limit=10"),
  ]);
  root.append(el("h2", {}, `${t("pending")} (${pending.data.length})`));
  const list = el("div", { class: "grid wide", id: "pending" });
  pending.data.forEach((d) => list.append(decisionCard(d, true)));
  if (!pending.data.length) list.append(el("p", { class: "muted" }, t("none")));
  root.append(list);
  root.append(el("h2", {}, t("portfolio")), el("div", { class: "grid" },
    kpi(t("equity"), `${Hilo.fmtNumber(portfolio.total_balance, 2)} ${portfolio.currency}`),
    kpi(t("available"), Hilo.fmtNumber(portfolio.available_balance, 2)),
    kpi(t("drawdown"), `${Hilo.fmtNumber(portfolio.drawdown * 100, 2)} %`)));
  root.append(el("h2", {}, t("positions")), table([
    { label: t("symbol"), value: (p) => p.symbol }, { label: t("quantity"), value: (p) => Hilo.fmtNumber(p.quantity, 6), num: true },
    { label: t("entry"), value: (p) => Hilo.fmtNumber(p.entry_price, 2), num: true }, { label: t("price"), value: (p) => Hilo.fmtNumber(p.current_price, 2), num: true },
    { label: t("pnl"), value: (p) => el("span", { class: p.pnl >= 0 ? "ok" : "bad" }, Hilo.fmtNumber(p.pnl, 2)), num: true },
  ], portfolio.positions));
  const decideOut = el("div", {});
  root.append(el("h2", {}, t("decisions")), el("p", {}, el("button", { type: "button", onclick: async () => {
    decideOut.replaceChildren();
    try { await Hilo.api("/council/trading/decide", { method: "POST", json: {} }); show("consejo"); }
    catch (exc) { decideOut.append(message(exc.message, "error")); }
  } }, t("decide")), decideOut));
  const decided = el("div", { class: "grid wide" });
  recent.data.filter((d) => d.status !== "pending_approval").forEach((d) => decided.append(decisionCard(d, false)));
  if (!decided.childElementCount) decided.append(el("p", { class: "muted" }, t("none")));
  root.append(decided);
  root.append(el("h2", {}, t("models")), table([
    { label: t("symbol"), value: (m) => `${m.symbol} ${m.timeframe}` }, { label: "v", value: (m) => m.version, num: true },
    { label: t("date"), value: (m) => Hilo.fmtDate(m.trained_at) }, { label: "n", value: (m) => Hilo.fmtNumber(m.samples), num: true },
    { label: "acc.", value: (m) => m.calibration && m.calibration.accuracy !== undefined ? Hilo.fmtNumber(m.calibration.accuracy, 3) : "—", num: true },
    { label: "Brier", value: (m) => m.calibration && m.calibration.brier !== undefined ? Hilo.fmtNumber(m.calibration.brier, 3) : "—", num: true },
  ], models.data));
  root.append(el("h2", {}, t("backtests")), backtestViewer());
}

function backtestViewer() {
  const input = el("input", { type: "file", accept: "application/json,.json" });
  const out = el("div", { id: "backtest" });
  input.addEventListener("change", async () => {
    out.replaceChildren();
    const file = input.files[0];
    if (!file) return;
    try { drawBacktest(out, JSON.parse(await file.text())); } catch (exc) { out.append(message(exc.message, "error")); }
  });
  return el("div", { class: "panel" }, el("p", { class: "muted" }, t("backtesthelp")), field("report.json", input), out);
}

function drawBacktest(out, report) {
  const eq = report.equity || {};
  const labels = (eq.time || []).map((s) => s.slice(0, 10));
  const series = [{ name: "council", values: eq.council || [] }];
  for (const name of Object.keys(report.baselines || {})) if (eq[name]) series.push({ name, values: eq[name], cls: "alt" });
  const data = report.data || {};
  out.append(el("p", {}, el("strong", {}, `${data.symbol || ""} ${data.timeframe || ""}`), ` · ${data.bars || ""} bars · ${(data.start || "").slice(0, 10)} – ${(data.end || "").slice(0, 10)}`));
  const drawn = series.slice(0, 2); // the council and the first baseline (buy and hold)
  out.append(Charts.legend(drawn.map((s, i) => [s.name, i ? "alt" : ""])));
  out.append(Charts.lines({ label: `${t("equity")}: ${drawn.map((s) => s.name).join(", ")}`, labels, series: drawn, format: (v) => Hilo.fmtNumber(v, 0) }));
  if (eq.council_drawdown) out.append(el("h3", {}, t("drawdown")), Charts.lines({ label: t("drawdown"), labels, series: [{ name: t("drawdown"), values: eq.council_drawdown.map((v) => -100 * v) }], format: (v) => `${Hilo.fmtNumber(v, 1)} %`, height: 160 }));
  const names = ["council", ...Object.keys(report.baselines || {})];
  const metrics = { council: report.metrics || {}, ...(report.baselines || {}) };
  const keys = ["total_return", "cagr", "sharpe", "sortino", "max_drawdown", "win_rate", "trades", "fees"].filter((k) => k in (report.metrics || {}));
  const pct = new Set(["total_return", "cagr", "max_drawdown", "win_rate"]);
  const shown = (k, v) => v === null || v === undefined ? "—" : pct.has(k) ? `${Hilo.fmtNumber(v * 100, 1)} %` : Hilo.fmtNumber(v, 2);
  out.append(table([{ label: t("metric"), value: (k) => k }, ...names.map((n) => ({ label: n, value: (k) => shown(k, metrics[n][k]), num: true }))], keys));
}

// ------------------------------------------------------------------ webhooks

async function webhooks(root, endpointId) {
  root.append(el("h1", {}, t("s.webhooks")));
  const endpoints = await Hilo.api("/admin/webhooks");
  root.append(el("h2", {}, t("endpoints")), table([
    { label: "URL", value: (e) => el("code", {}, e.url) }, { label: t("event"), value: (e) => (e.events || []).join(", ") || "*" },
    { label: t("status"), value: (e) => e.enabled ? pill(t("active"), "good") : pill("off", "bad") },
    { label: "", value: (e) => el("a", { href: `#webhooks/${e.id}` }, t("deliveries")) },
  ], endpoints.data || []));
  const chosen = endpointId || ((endpoints.data || [])[0] || {}).id;
  if (!chosen) return;
  const deliveries = await Hilo.api(`/admin/webhooks/${chosen}/deliveries?limit=50`);
  root.append(el("h2", {}, `${t("deliveries")} · `, el("code", {}, chosen)), table([
    { label: t("date"), value: (d) => Hilo.fmtDate(d.created_at) }, { label: t("event"), value: (d) => d.event },
    { label: t("status"), value: (d) => pill(d.status, d.status === "delivered" ? "good" : d.status === "failed" ? "bad" : "warn") },
    { label: t("attempts"), value: (d) => d.attempts, num: true }, { label: "HTTP", value: (d) => d.last_status_code ?? "—" },
    { label: "", value: (d) => d.last_error || "" },
    { label: "", value: (d) => d.status === "pending" ? "" : el("button", { type: "button", onclick: async (event) => {
      event.target.disabled = true;
      await Hilo.api(`/admin/webhooks/${chosen}/deliveries/${d.id}/retry`, { method: "POST" });
      event.target.replaceWith(el("span", {}, t("retried")));
    } }, t("retry")) },
  ], deliveries.data));
}

// ------------------------------------------------------------------ health

async function health(root) {
  root.append(el("h1", {}, t("s.health")));
  const status = await Hilo.api("/");
  let ready = null;
  try { ready = await Hilo.api("/health/ready"); } catch (exc) { ready = { error: exc.message }; }
  const ok = (v) => v ? pill("✓ ok", "good") : pill("✕", "bad");
  root.append(el("div", { class: "grid" },
    kpi(t("database"), ok(status.database.ok), el("div", { class: "muted" }, status.database.detail)),
    kpi(t("provider"), ok(status.model.ok), el("div", { class: "muted" }, `${status.model.provider}: ${status.model.detail || ""}`)),
    kpi(t("ready"), ok(!ready.error), el("div", { class: "muted" }, ready.error || "")),
    kpi(t("transcription"), Hilo.who.transcription ? pill(t("configured"), "good") : pill(t("notconfigured"), "warn"))));
  const providers = Object.entries(((ready.checks || {}).providers || {}).named || {});
  if (providers.length) {
    root.append(el("h2", {}, t("provider")), table([
      { label: t("provider"), value: ([name]) => el("strong", {}, name) },
      { label: t("status"), value: ([, c]) => ok(c.ok) },
      { label: "", value: ([, c]) => String(c.detail || "") },
    ], providers));
  }
  const queue = (ready.checks || {}).queue;
  if (queue) {
    root.append(el("h2", {}, t("queue")), table([
      { label: "", value: ([k]) => k }, { label: "", value: ([, v]) => String(v) },
    ], Object.entries(queue)));
  }
  const channels = Object.entries(status.channels || {});
  root.append(el("h2", {}, t("channels")), table([
    { label: t("channel"), value: ([name]) => el("strong", {}, name) },
    { label: t("status"), value: ([, c]) => c.configured === undefined ? pill("✓", "good") : c.configured ? pill(t("configured"), "good") : pill(t("notconfigured"), "") },
    { label: "", value: ([, c]) => Object.entries(c).filter(([k, v]) => k !== "configured" && v !== null && typeof v !== "object").map(([k, v]) => `${k}: ${v}`).join(" · ") },
  ], channels));
  if (packs().includes("commerce")) {
    try { root.append(el("h2", {}, t("s.shop")), json(await Hilo.api("/admin/health"))); } catch (exc) { root.append(message(exc.message, "error")); }
  }
  root.append(el("p", { class: "muted" }, "Packs: ", packs().join(", ") || "—"));
}

// ------------------------------------------------------------------ routing

let generation = 0;

async function show(hash) {
  const mine = ++generation; // a later navigation wins over a slower earlier one
  const [name, ...rest] = (hash || "resumen").split("?")[0].split("/");
  const section = SECTIONS.find((s) => s[0] === name) || SECTIONS[0];
  for (const a of document.querySelectorAll("#sections a")) {
    if (a.dataset.section === section[0]) a.setAttribute("aria-current", "page"); else a.removeAttribute("aria-current");
  }
  const root = el("div", { "data-view": section[0] });
  const target = view();
  target.setAttribute("aria-busy", "true");
  target.replaceChildren(el("p", { class: "muted" }, t("loading")));
  document.title = `hilo · ${t(section[1])}`;
  await guarded(root, () => section[2](root, rest.join("/") || undefined));
  if (mine !== generation) return;
  target.replaceChildren(root);
  target.setAttribute("aria-busy", "false");
  document.body.dataset.ready = section[0];
}

document.addEventListener("DOMContentLoaded", async () => {
  Hilo.translate();
  Hilo.langSwitch(document.getElementById("lang"));
  const who = await Hilo.me();
  if (who.auth) { const b = document.getElementById("signout"); b.hidden = false; b.addEventListener("click", Hilo.signOut); }
  if (who.scope !== "admin") { view().replaceChildren(message(t("admin.noadmin"), "error")); view().setAttribute("aria-busy", "false"); return; }
  const nav = document.getElementById("sections");
  const render = () => nav.replaceChildren(...SECTIONS.map(([id, key]) => el("li", {}, el("a", { href: `#${id}`, "data-section": id }, t(key)))));
  render();
  document.addEventListener("hilo:lang", () => { render(); show(location.hash.slice(1)); });
  window.addEventListener("hashchange", () => show(location.hash.slice(1)).then(() => view().focus()));
  await show(location.hash.slice(1));
});
