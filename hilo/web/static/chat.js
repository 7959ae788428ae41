// The chat page: the signed-in user's conversation with one assistant, through hilo's /v1 API.
// Replies stream over server-sent events (POST /v1/threads/{id}/runs, stream: true); tool
// activity shows while it runs; file_search citations link to their passage; voice in by the
// browser's speech recognition or by recording sent to /v1/audio/transcriptions; replies read
// aloud by speechSynthesis; a frame of a shared screen goes with the next message as an image.
"use strict";

Hilo.add({
  "chat.assistant": ["Asistente", "Assistant"],
  "chat.reset": ["Nueva conversación", "New conversation"],
  "chat.speak": ["Leer respuestas en voz alta", "Read replies aloud"],
  "chat.log": ["Conversación", "Conversation"],
  "chat.attachments": ["Adjuntos", "Attachments"],
  "chat.message": ["Mensaje", "Message"],
  "chat.placeholder": ["Escribe tu mensaje…", "Type your message…"],
  "chat.hint": ["Intro envía; Mayúsculas+Intro, nueva línea.", "Enter sends; Shift+Enter, new line."],
  "chat.attach": ["Adjuntar", "Attach"],
  "chat.mic": ["Hablar: dictar el mensaje", "Speak: dictate the message"],
  "chat.voice": ["Voz", "Voice"],
  "chat.share": ["Compartir pantalla", "Share screen"],
  "chat.stopshare": ["Dejar de compartir", "Stop sharing"],
  "chat.frame": ["Enviar captura", "Send a capture"],
  "chat.send": ["Enviar", "Send"],
  "chat.you": ["Tú", "You"],
  "chat.bot": ["Asistente", "Assistant"],
  "chat.empty": ["Escribe tu primera pregunta. La conversación se guarda: al volver, sigue aquí.",
    "Ask your first question. The conversation is kept: it is here when you come back."],
  "chat.noassistants": ["No hay ningún asistente que puedas usar.", "There is no assistant you may use."],
  "chat.thinking": ["El asistente está escribiendo…", "The assistant is writing…"],
  "chat.tool": ["Usando la herramienta {name}…", "Using the tool {name}…"],
  "chat.tooldone": ["Herramienta {name}: lista", "Tool {name}: done"],
  "chat.search": ["Buscando en los documentos…", "Searching the documents…"],
  "chat.searchdone": ["Búsqueda en los documentos: lista", "Document search: done"],
  "chat.sources": ["Fuentes", "Sources"],
  "chat.source": ["Fuente {n}: {file}", "Source {n}: {file}"],
  "chat.listen": ["Escuchar", "Listen"],
  "chat.resetdone": ["Conversación nueva. La anterior queda guardada.", "New conversation. The previous one is kept."],
  "chat.uploading": ["Subiendo {name}…", "Uploading {name}…"],
  "chat.remove": ["Quitar {name}", "Remove {name}"],
  "chat.listening": ["Escuchando… habla ahora.", "Listening… speak now."],
  "chat.recording": ["Grabando… pulsa el micrófono otra vez para enviar.", "Recording… press the microphone again to send."],
  "chat.transcribing": ["Transcribiendo la grabación…", "Transcribing the recording…"],
  "chat.novoice": ["Este navegador no puede grabar audio.", "This browser cannot record audio."],
  "chat.nosr": ["El reconocimiento de voz del navegador no está disponible: se graba el audio y lo transcribe el servidor.",
    "The browser's speech recognition is not available: the audio is recorded and the server transcribes it."],
  "chat.emptyvoice": ["No se entendió nada en la grabación.", "Nothing was understood in the recording."],
  "chat.noscreen": ["Este navegador no permite compartir la pantalla.", "This browser cannot share the screen."],
  "chat.sharing": ["Compartiendo pantalla. «Enviar captura» adjunta lo que se ve ahora.",
    "Sharing the screen. “Send a capture” attaches what is shown now."],
  "chat.captured": ["Captura adjuntada: se enviará con tu próximo mensaje.", "Capture attached: it goes with your next message."],
  "chat.requires": ["El asistente pidió una función que esta página no ejecuta ({name}); la ejecución se canceló.",
    "The assistant asked for a function this page does not run ({name}); the run was cancelled."],
  "chat.failed": ["La respuesta falló: {why}", "The reply failed: {why}"],
  "chat.signedas": ["Conectado como {name}", "Signed in as {name}"],
});

const MARKER = /\s?【(\d+):(\d+)†([^】]*)】/g;
const INCLUDE = "include[]=" + encodeURIComponent("step_details.tool_calls[*].file_search.results[*].content");
const IMAGE_TYPES = ["image/png", "image/jpeg", "image/gif", "image/webp"];
const { el, t } = Hilo;

const state = {
  assistants: [], assistantId: null, threadId: null, busy: false, attachments: [],
  recorder: null, recognition: null, screen: null,
  voiceMode: new URLSearchParams(location.search).get("voz") || new URLSearchParams(location.search).get("voice") || "auto",
};

const $ = (id) => document.getElementById(id);

function notice(text) {
  const node = $("notice");
  node.textContent = text || "";
  node.hidden = !text;
}

function activity(text) { $("activity").textContent = text || ""; }

// ------------------------------------------------------------------ rendering

function bubble(role, id) {
  const body = el("div", { class: "body" });
  const item = el("li", { class: `msg ${role}`, "data-role": role, id: id ? `m-${id}` : undefined },
    el("span", { class: "who" }, role === "user" ? t("chat.you") : t("chat.bot")), body);
  const empty = $("log").querySelector(".empty");
  if (empty) empty.remove();
  $("log").append(item);
  item.scrollIntoView({ block: "end" });
  return { item, body };
}

function passageFor(annotation, steps) {
  const match = /【(\d+):(\d+)†/.exec(annotation.text || "");
  const fileId = annotation.file_citation && annotation.file_citation.file_id;
  const calls = (step) => ((step.step_details || {}).tool_calls || []).filter((c) => c.type === "file_search");
  if (match) {
    const step = steps[Number(match[1])];
    for (const call of step ? calls(step) : []) {
      const result = (call.file_search.results || [])[Number(match[2])];
      if (result && (!fileId || result.file_id === fileId)) return result;
    }
  }
  for (const step of steps) for (const call of calls(step)) {
    const result = (call.file_search.results || []).find((r) => r.file_id === fileId);
    if (result) return result;
  }
  return null;
}

// Text with its file_citation annotations: each marker becomes a link [n] to its passage below.
function renderText(target, key, value, annotations, steps) {
  target.replaceChildren();
  const cites = (annotations || []).filter((a) => a.type === "file_citation")
    .sort((a, b) => a.start_index - b.start_index);
  const paragraph = el("p", { class: "text" });
  const sources = [];
  const numbers = new Map();
  let at = 0;
  for (const cite of cites) {
    if (cite.start_index < at) continue;
    paragraph.append(value.slice(at, cite.start_index).replace(MARKER, "").replace(/\s+$/, ""));
    let n = numbers.get(cite.text);
    if (!n) {
      n = numbers.size + 1;
      numbers.set(cite.text, n);
      const passage = passageFor(cite, steps || []);
      const name = (passage && passage.file_name) || (/†([^】]*)】/.exec(cite.text) || [])[1] || "";
      const text = passage && (passage.content || []).map((c) => c.text).join("\n");
      const short = text && text.length > 140 ? text.slice(0, 140).replace(/\s+\S*$/, "") + "…" : text;
      sources.push(el("li", { id: `src-${key}-${n}`, class: "source", tabindex: "-1" },
        el("details", {}, el("summary", {}, el("span", { class: "file" }, name), short ? ` — ${short}` : ""),
          text ? el("blockquote", {}, text) : null)));
    }
    paragraph.append(el("a", { class: "cite", href: `#src-${key}-${n}`, "aria-label": t("chat.source", { n, file: "" }).trim(),
      onclick: (event) => { event.preventDefault(); openSource(`src-${key}-${n}`); } }, `[${n}]`));
    at = cite.end_index;
  }
  paragraph.append(value.slice(at).replace(MARKER, ""));
  target.append(paragraph);
  if (sources.length) {
    target.append(el("div", { class: "sources" }, el("strong", {}, t("chat.sources")), el("ol", {}, sources)));
  }
}

function openSource(id) {
  const node = document.getElementById(id);
  if (!node) return;
  const details = node.querySelector("details");
  if (details) details.open = true;
  node.focus();
  node.classList.add("lit");
  setTimeout(() => node.classList.remove("lit"), 1600);
}

function listenButton(getText) {
  if (!("speechSynthesis" in window)) return null;
  return el("button", { type: "button", class: "link listen", onclick: () => speak(getText()) }, Hilo.icon("speaker"), " ", t("chat.listen"));
}

function renderMessage(message, steps) {
  const { item, body } = bubble(message.role, message.id);
  let text = "";
  let annotations = [];
  for (const part of message.content || []) {
    if (part.type === "text") { text += part.text.value; annotations = annotations.concat(part.text.annotations || []); }
    if (part.type === "image_file") body.append(el("img", { class: "thumb", alt: "", src: `/v1/files/${part.image_file.file_id}/content` }));
    if (part.type === "image_url") body.append(el("img", { class: "thumb", alt: "", src: part.image_url.url }));
  }
  const textBox = el("div", {});
  body.prepend(textBox);
  renderText(textBox, message.id, text, annotations, steps);
  for (const attachment of message.attachments || []) body.append(el("p", { class: "muted" }, Hilo.icon("attach"), " ", attachment.file_id));
  if (message.role === "assistant") { const b = listenButton(() => text.replace(MARKER, "")); if (b) item.append(b); }
  return item;
}

async function runSteps(runId) {
  try {
    const page = await Hilo.api(`/v1/threads/${state.threadId}/runs/${runId}/steps?order=asc&limit=100&${INCLUDE}`);
    return page.data.filter((s) => s.type === "tool_calls");
  } catch { return []; }
}

async function loadHistory() {
  $("log").replaceChildren();
  const page = await Hilo.api(`/v1/threads/${state.threadId}/messages?order=asc&limit=100`);
  if (!page.data.length) $("log").append(el("li", { class: "empty muted" }, t("chat.empty")));
  const stepsOf = new Map();
  for (const message of page.data) {
    let steps = [];
    const cited = (message.content || []).some((p) => p.type === "text" && (p.text.annotations || []).length);
    if (cited && message.run_id) {
      if (!stepsOf.has(message.run_id)) stepsOf.set(message.run_id, await runSteps(message.run_id));
      steps = stepsOf.get(message.run_id);
    }
    renderMessage(message, steps);
  }
}

// ------------------------------------------------------------------ assistants and threads

async function loadAssistants() {
  const page = await Hilo.api("/v1/assistants?order=asc&limit=100");
  state.assistants = page.data;
  const select = $("assistant");
  const mine = Hilo.who.entitlements; // null: an admin, who may run every assistant
  const usable = (a) => !mine || ((a.metadata || {}).hilo_requires || "").split(",").map((e) => e.trim())
    .filter(Boolean).every((e) => mine.includes(e));
  select.replaceChildren(...page.data.map((a) => el("option", { value: a.id, disabled: !usable(a) },
    (a.name || a.id) + (usable(a) ? "" : ` (${(a.metadata || {}).hilo_requires})`))));
  const open = page.data.filter(usable);
  if (!open.length) { notice(t("chat.noassistants")); return false; }
  const asked = new URLSearchParams(location.search).get("assistant");
  const remembered = localStorage.getItem("hilo.assistant");
  const pick = [asked, remembered].find((id) => id && open.some((a) => a.id === id)) || open[0].id;
  select.value = pick;
  state.assistantId = pick;
  return true;
}

async function openThread() {
  localStorage.setItem("hilo.assistant", state.assistantId);
  const found = await Hilo.api(`/web/api/chat/thread?assistant_id=${encodeURIComponent(state.assistantId)}`);
  state.threadId = found.thread_id;
  $("log").dataset.thread = state.threadId;
  await loadHistory();
}

async function reset() {
  if (state.busy) return;
  const found = await Hilo.api("/web/api/chat/reset", { method: "POST", json: { assistant_id: state.assistantId } });
  state.threadId = found.thread_id;
  $("log").dataset.thread = state.threadId;
  await loadHistory();
  notice(t("chat.resetdone"));
  $("input").focus();
}

// ------------------------------------------------------------------ attachments

function showAttachments() {
  $("attachments").replaceChildren(...state.attachments.map((a, index) => el("li", { class: "attachment" },
    a.preview ? el("img", { src: a.preview, alt: "", class: "thumb small" }) : Hilo.icon("attach"),
    el("span", {}, a.name),
    el("button", { type: "button", class: "link", "aria-label": t("chat.remove", { name: a.name }),
      onclick: () => { state.attachments.splice(index, 1); showAttachments(); } }, "✕"))));
}

async function upload(blob, name) {
  const image = IMAGE_TYPES.includes(blob.type);
  activity(t("chat.uploading", { name }));
  const form = new FormData();
  form.append("purpose", image ? "vision" : "assistants");
  form.append("file", blob, name);
  try {
    const file = await Hilo.api("/v1/files", { method: "POST", form });
    state.attachments.push({ id: file.id, name, image, preview: image ? URL.createObjectURL(blob) : null });
    showAttachments();
  } finally { activity(""); }
}

// ------------------------------------------------------------------ a turn, streamed

async function* sse(response) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true }).replace(/\r\n/g, "\n");
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      let event = "message";
      const data = [];
      for (const line of block.split("\n")) {
        if (line.startsWith("event:")) event = line.slice(6).trim();
        else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
      }
      yield { event, data: data.join("\n") };
    }
  }
}

function toolLabel(call, finished) {
  if (call.type === "file_search") return t(finished ? "chat.searchdone" : "chat.search");
  const name = (call.function && call.function.name) || call.type;
  return t(finished ? "chat.tooldone" : "chat.tool", { name });
}

async function send(text) {
  if (state.busy || !state.threadId) return;
  const images = state.attachments.filter((a) => a.image);
  const files = state.attachments.filter((a) => !a.image);
  if (!text.trim() && !state.attachments.length) return;
  state.busy = true;
  $("send").disabled = true;
  notice("");
  const content = [];
  if (text.trim()) content.push({ type: "text", text });
  for (const image of images) content.push({ type: "image_file", image_file: { file_id: image.id } });
  const message = { role: "user", content };
  if (files.length) message.attachments = files.map((f) => ({ file_id: f.id, tools: [{ type: "file_search" }] }));
  const mine = bubble("user");
  mine.body.append(el("p", { class: "text" }, text));
  for (const image of images) mine.body.append(el("img", { class: "thumb", alt: image.name, src: image.preview }));
  for (const file of files) mine.body.append(el("p", { class: "muted" }, Hilo.icon("attach"), " ", file.name));
  state.attachments = [];
  showAttachments();

  const reply = bubble("assistant");
  reply.item.setAttribute("aria-busy", "true");
  const live = el("p", { class: "text streaming", "aria-live": "polite" });
  const tools = el("ul", { class: "tools", "aria-label": "tools" });
  reply.body.append(tools, live);
  activity(t("chat.thinking"));
  let raw = "";
  const steps = [];
  const toolItems = new Map();
  let final = null;
  try {
    const response = await Hilo.api(`/v1/threads/${state.threadId}/runs?${INCLUDE}`, {
      method: "POST", raw: true,
      json: { assistant_id: state.assistantId, stream: true, additional_messages: [message] },
    });
    for await (const { event, data } of sse(response)) {
      if (data === "[DONE]" || event === "done") break;
      const payload = JSON.parse(data);
      if (event === "thread.message.delta") {
        for (const part of payload.delta.content || []) if (part.type === "text") raw += part.text.value || "";
        live.textContent = raw.replace(MARKER, "");
        activity(t("chat.thinking"));
      } else if (event.startsWith("thread.run.step.") && payload.step_details && payload.step_details.type === "tool_calls") {
        const finished = event === "thread.run.step.completed";
        if (finished) steps.push(payload);
        (payload.step_details.tool_calls || []).forEach((call, index) => {
          const key = `${payload.id}:${index}`;
          let node = toolItems.get(key);
          if (!node) { node = el("li", { class: "tool" }); toolItems.set(key, node); tools.append(node); }
          node.textContent = (finished ? "✓ " : "… ") + toolLabel(call, finished);
          node.classList.toggle("done", finished);
          activity(toolLabel(call, finished));
        });
      } else if (event.startsWith("thread.run.step.") && payload.id && payload.step_details === undefined && payload.delta) {
        for (const call of (payload.delta.step_details || {}).tool_calls || []) activity(toolLabel(call, false));
      } else if (event === "thread.message.completed") {
        final = payload;
      } else if (event === "thread.run.requires_action") {
        const names = payload.required_action.submit_tool_outputs.tool_calls.map((c) => c.function.name).join(", ");
        await Hilo.api(`/v1/threads/${state.threadId}/runs/${payload.id}/cancel`, { method: "POST" }).catch(() => {});
        live.textContent = t("chat.requires", { name: names });
      } else if (["thread.run.failed", "thread.run.expired", "thread.run.incomplete", "thread.run.cancelled"].includes(event)) {
        const why = (payload.last_error && payload.last_error.message) || (payload.incomplete_details && payload.incomplete_details.reason) || payload.status;
        reply.body.append(el("p", { class: "error", role: "alert" }, t("chat.failed", { why })));
      } else if (event === "error") {
        reply.body.append(el("p", { class: "error", role: "alert" }, t("chat.failed", { why: (payload.error || payload).message || "" })));
      }
    }
    if (final) {
      reply.item.id = `m-${final.id}`;
      const box = el("div", {});
      let value = "";
      let annotations = [];
      for (const part of final.content || []) if (part.type === "text") { value += part.text.value; annotations = annotations.concat(part.text.annotations || []); }
      renderText(box, final.id, value, annotations, steps);
      live.replaceWith(box);
      const spoken = value.replace(MARKER, "");
      const b = listenButton(() => spoken);
      if (b) reply.item.append(b);
      if ($("speak").checked) speak(spoken);
    }
  } catch (exc) {
    reply.body.append(el("p", { class: "error", role: "alert" }, t("chat.failed", { why: exc.message })));
  } finally {
    reply.item.removeAttribute("aria-busy");
    reply.item.classList.add("complete");
    activity("");
    state.busy = false;
    $("send").disabled = false;
    reply.item.scrollIntoView({ block: "end" });
  }
}

// ------------------------------------------------------------------ voice

function speak(text) {
  if (!("speechSynthesis" in window) || !text) return;
  const utterance = new SpeechSynthesisUtterance(text);
  utterance.lang = Hilo.lang === "es" ? "es-CO" : "en-US";
  speechSynthesis.cancel();
  speechSynthesis.speak(utterance);
}

function micPressed(on) { $("mic").setAttribute("aria-pressed", on ? "true" : "false"); $("mic").classList.toggle("on", on); }

function recognitionClass() {
  if (state.voiceMode === "grabar" || state.voiceMode === "record") return null;
  return window.SpeechRecognition || window.webkitSpeechRecognition || null;
}

function listen() {
  const Recognition = recognitionClass();
  if (!Recognition) { notice(t("chat.nosr")); return record(); }
  const recognition = new Recognition();
  recognition.lang = Hilo.lang === "es" ? "es-CO" : "en-US";
  recognition.interimResults = true;
  recognition.maxAlternatives = 1;
  let heard = "";
  let failed = false;
  recognition.onresult = (event) => {
    heard = Array.from(event.results).map((r) => r[0].transcript).join(" ");
    $("input").value = heard;
  };
  recognition.onerror = (event) => {
    if (event.error === "no-speech" || event.error === "aborted") return;
    failed = true; // no recognition service (offline, not allowed): record and let the server transcribe
    state.voiceMode = "grabar";
    notice(t("chat.nosr"));
  };
  recognition.onend = () => {
    state.recognition = null;
    micPressed(false);
    activity("");
    if (failed) { record(); return; }
    if (heard.trim()) send($("input").value).then(() => { $("input").value = ""; });
  };
  state.recognition = recognition;
  micPressed(true);
  activity(t("chat.listening"));
  recognition.start();
}

async function record() {
  if (!navigator.mediaDevices || !window.MediaRecorder) { notice(t("chat.novoice")); return; }
  let stream;
  try { stream = await navigator.mediaDevices.getUserMedia({ audio: true }); } catch (exc) { notice(t("chat.novoice") + " " + exc.message); return; }
  const type = ["audio/webm;codecs=opus", "audio/ogg;codecs=opus", "audio/mp4"].find((m) => MediaRecorder.isTypeSupported(m)) || "";
  const recorder = new MediaRecorder(stream, type ? { mimeType: type } : undefined);
  const chunks = [];
  recorder.ondataavailable = (event) => { if (event.data.size) chunks.push(event.data); };
  recorder.onstop = async () => {
    stream.getTracks().forEach((track) => track.stop());
    state.recorder = null;
    micPressed(false);
    const blob = new Blob(chunks, { type: recorder.mimeType || "audio/webm" });
    const ext = (recorder.mimeType || "").includes("ogg") ? "ogg" : (recorder.mimeType || "").includes("mp4") ? "m4a" : "webm";
    activity(t("chat.transcribing"));
    const form = new FormData();
    form.append("file", blob, `voz.${ext}`);
    form.append("model", "whisper-1");
    try {
      const result = await Hilo.api("/v1/audio/transcriptions", { method: "POST", form });
      const text = (result.text || "").trim();
      activity("");
      if (!text) { notice(t("chat.emptyvoice")); return; }
      $("input").value = text;
      await send(text);
      $("input").value = "";
    } catch (exc) {
      activity("");
      notice(exc.message);
    }
  };
  state.recorder = recorder;
  recorder.start(250);
  micPressed(true);
  activity(t("chat.recording"));
  setTimeout(() => { if (state.recorder === recorder && recorder.state === "recording") recorder.stop(); }, 30000);
}

function toggleVoice() {
  if (state.recorder) { state.recorder.stop(); return; }
  if (state.recognition) { state.recognition.stop(); return; }
  listen();
}

// ------------------------------------------------------------------ share screen

async function toggleShare() {
  if (state.screen) { stopShare(); return; }
  if (!navigator.mediaDevices || !navigator.mediaDevices.getDisplayMedia) { notice(t("chat.noscreen")); return; }
  try {
    state.screen = await navigator.mediaDevices.getDisplayMedia({ video: true, audio: false });
  } catch (exc) { notice(t("chat.noscreen") + " " + exc.message); return; }
  const video = $("screen");
  video.srcObject = state.screen;
  video.hidden = false;
  await video.play().catch(() => {});
  state.screen.getVideoTracks()[0].addEventListener("ended", stopShare);
  $("share").setAttribute("aria-pressed", "true");
  $("share").querySelector(".label").textContent = t("chat.stopshare");
  $("frame").hidden = false;
  notice(t("chat.sharing"));
}

function stopShare() {
  if (state.screen) state.screen.getTracks().forEach((track) => track.stop());
  state.screen = null;
  $("screen").hidden = true;
  $("screen").srcObject = null;
  $("frame").hidden = true;
  $("share").setAttribute("aria-pressed", "false");
  $("share").querySelector(".label").textContent = t("chat.share");
}

async function captureFrame() {
  const video = $("screen");
  if (!state.screen || !video.videoWidth) return;
  const canvas = document.createElement("canvas");
  const scale = Math.min(1, 1600 / video.videoWidth);
  canvas.width = Math.round(video.videoWidth * scale);
  canvas.height = Math.round(video.videoHeight * scale);
  canvas.getContext("2d").drawImage(video, 0, 0, canvas.width, canvas.height);
  const blob = await new Promise((resolve) => canvas.toBlob(resolve, "image/png"));
  const stamp = new Date().toISOString().slice(11, 19).replaceAll(":", "");
  await upload(blob, `pantalla-${stamp}.png`);
  notice(t("chat.captured"));
}

// ------------------------------------------------------------------ start

document.addEventListener("DOMContentLoaded", async () => {
  Hilo.translate();
  Hilo.langSwitch($("lang"));
  const who = await Hilo.me();
  if (who.scope === "admin") $("to-admin").hidden = false;
  if (who.auth) { $("signout").hidden = false; $("signout").addEventListener("click", Hilo.signOut); }
  if (who.name) $("who").textContent = t("chat.signedas", { name: who.name });
  document.addEventListener("hilo:lang", () => { if (who.name) $("who").textContent = t("chat.signedas", { name: who.name }); });

  $("composer").addEventListener("submit", async (event) => {
    event.preventDefault();
    const text = $("input").value;
    $("input").value = "";
    await send(text);
    $("input").focus();
  });
  $("input").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) { event.preventDefault(); $("composer").requestSubmit(); }
  });
  $("file").addEventListener("change", async () => {
    for (const file of $("file").files) {
      try { await upload(file, file.name); } catch (exc) { notice(exc.message); }
    }
    $("file").value = "";
  });
  $("reset").addEventListener("click", () => reset().catch((exc) => notice(exc.message)));
  $("mic").addEventListener("click", toggleVoice);
  $("share").addEventListener("click", toggleShare);
  $("frame").addEventListener("click", () => captureFrame().catch((exc) => notice(exc.message)));
  $("speak").checked = localStorage.getItem("hilo.speak") === "1";
  $("speak").addEventListener("change", () => localStorage.setItem("hilo.speak", $("speak").checked ? "1" : "0"));
  $("assistant").addEventListener("change", () => {
    state.assistantId = $("assistant").value;
    openThread().catch((exc) => notice(exc.message));
  });
  try {
    if (await loadAssistants()) await openThread();
    document.body.dataset.ready = "1";
  } catch (exc) { notice(exc.message); }
  if (matchMedia("(min-width: 701px)").matches) $("input").focus();
});
