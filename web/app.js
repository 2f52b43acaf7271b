// deepcard web chat: streams /v1/chat/completions (DeepSeek shape: reasoning_content, then content),
// renders Markdown safely, keeps conversations and settings in localStorage. No dependencies.
import { renderMarkdown, escapeHtml } from './markdown.js';

const $ = (sel) => document.querySelector(sel);
const STORE = 'deepcard.conversations.v1';
const SETTINGS = 'deepcard.settings.v1';
const DEFAULTS = { temperature: 0.6, top_p: 0.95, max_tokens: 2048, system: '', apiKey: '', showReasoning: true };

function load(key, fallback) {
  try {
    const v = JSON.parse(localStorage.getItem(key) ?? 'null');
    return v ?? fallback;
  } catch {
    return fallback;
  }
}

function save(key, value) {
  try {
    localStorage.setItem(key, JSON.stringify(value));
  } catch {
    setStatus('could not save to localStorage (full?)');
  }
}

const settings = { ...DEFAULTS, ...load(SETTINGS, {}) };
let conversations = load(STORE, []);
if (!Array.isArray(conversations)) conversations = [];
let currentId = conversations[0]?.id ?? null;
let running = null; // { ctl } while a generation streams

function setStatus(text) {
  $('#status').textContent = text;
}

function current() {
  return conversations.find((c) => c.id === currentId) ?? null;
}

function newConversation() {
  const c = { id: `c${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`, title: 'New chat', messages: [], updated: Date.now() };
  conversations.unshift(c);
  currentId = c.id;
  persist();
  return c;
}

function persist() {
  save(STORE, conversations);
  renderList();
}

// ------------------------------------------------------------------------------- rendering ----
function renderList() {
  const ul = $('#conversations');
  ul.replaceChildren();
  for (const c of conversations) {
    const li = document.createElement('li');
    li.className = c.id === currentId ? 'active' : '';
    const t = document.createElement('span');
    t.className = 'title';
    t.textContent = c.title;
    const del = document.createElement('button');
    del.className = 'delete';
    del.type = 'button';
    del.title = 'Delete conversation';
    del.textContent = '×';
    del.addEventListener('click', (e) => {
      e.stopPropagation();
      if (running) return;
      conversations = conversations.filter((x) => x.id !== c.id);
      if (currentId === c.id) currentId = conversations[0]?.id ?? null;
      persist();
      renderMessages();
    });
    li.append(t, del);
    li.addEventListener('click', () => {
      if (running) return;
      currentId = c.id;
      renderList();
      renderMessages();
    });
    ul.append(li);
  }
}

function messageElement(m) {
  const div = document.createElement('div');
  div.className = `msg ${m.role}`;
  const role = document.createElement('div');
  role.className = 'role';
  role.textContent = m.role === 'user' ? 'You' : 'Assistant';
  div.append(role);
  if (m.role === 'assistant') {
    const det = document.createElement('details');
    det.className = 'reasoning';
    det.innerHTML = '<summary>Thinking…</summary><div class="reasoning-body"></div>';
    det.hidden = true;
    div.append(det);
  }
  const content = document.createElement('div');
  content.className = 'content';
  div.append(content);
  const meta = document.createElement('div');
  meta.className = 'meta';
  div.append(meta);
  updateMessageElement(div, m, false);
  return div;
}

/** Refresh one message's DOM from its data. `live`: it is still streaming. */
function updateMessageElement(div, m, live) {
  const content = div.querySelector('.content');
  if (m.role === 'user') {
    content.textContent = m.content;
    return;
  }
  const det = div.querySelector('details.reasoning');
  if (m.reasoning && settings.showReasoning) {
    det.hidden = false;
    det.querySelector('.reasoning-body').textContent = m.reasoning;
    const thinking = live && !m.content;
    // Open while the model thinks; fold it away once the answer starts (the user can reopen it).
    if (thinking) det.open = true;
    else if (det.dataset.folded !== '1') {
      det.open = false;
      det.dataset.folded = '1';
    }
    det.querySelector('summary').textContent = thinking ? 'Thinking…' : `Thought${m.thinkSeconds ? ` for ${m.thinkSeconds} s` : ''}`;
  } else {
    det.hidden = true;
  }
  content.innerHTML = renderMarkdown(m.content ?? '');
  if (m.error) {
    const e = document.createElement('div');
    e.className = 'error';
    e.textContent = m.error;
    content.append(e);
  }
  div.querySelector('.meta').innerHTML = m.meta ? escapeHtml(m.meta) : '';
}

function renderMessages() {
  const box = $('#messages');
  box.replaceChildren();
  const c = current();
  if (!c) return;
  for (const m of c.messages) box.append(messageElement(m));
  box.scrollTop = box.scrollHeight;
}

// -------------------------------------------------------------------------------- settings ----
function bindSettings() {
  const num = (id, key) => {
    const el = $(id);
    el.value = settings[key];
    el.addEventListener('change', () => {
      const v = Number(el.value);
      if (el.value !== '' && Number.isFinite(v)) settings[key] = v;
      save(SETTINGS, settings);
    });
  };
  num('#set-temperature', 'temperature');
  num('#set-top_p', 'top_p');
  num('#set-max_tokens', 'max_tokens');
  const sys = $('#set-system');
  sys.value = settings.system;
  sys.addEventListener('input', () => {
    settings.system = sys.value;
    save(SETTINGS, settings);
  });
  const key = $('#set-apikey');
  key.value = settings.apiKey;
  key.addEventListener('input', () => {
    settings.apiKey = key.value.trim();
    save(SETTINGS, settings);
  });
  const show = $('#set-show-reasoning');
  show.checked = settings.showReasoning;
  show.addEventListener('change', () => {
    settings.showReasoning = show.checked;
    save(SETTINGS, settings);
    renderMessages();
  });
}

function headers() {
  const h = { 'content-type': 'application/json' };
  if (settings.apiKey) h.authorization = `Bearer ${settings.apiKey}`;
  return h;
}

// ------------------------------------------------------------------------------- streaming ----
/** Yields the parsed JSON of each SSE `data:` event of a fetch Response. */
async function* sseEvents(res) {
  const reader = res.body.getReader();
  const dec = new TextDecoder();
  let buf = '';
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    buf += dec.decode(value, { stream: true });
    let i;
    while ((i = buf.indexOf('\n\n')) >= 0) {
      const ev = buf.slice(0, i);
      buf = buf.slice(i + 2);
      const data = ev.split('\n').filter((l) => l.startsWith('data:')).map((l) => l.slice(5).trimStart()).join('\n');
      if (!data) continue;
      if (data === '[DONE]') return;
      yield JSON.parse(data);
    }
  }
}

async function send(text) {
  const conv = current() ?? newConversation();
  if (conv.messages.length === 0) conv.title = text.slice(0, 40) || 'New chat';
  conv.messages.push({ role: 'user', content: text });
  const m = { role: 'assistant', content: '', reasoning: '' };
  conv.messages.push(m);
  conv.updated = Date.now();
  persist();
  renderMessages();
  const div = $('#messages').lastElementChild;

  // History without prior reasoning: DeepSeek R1 wants only the final answers back.
  const history = conv.messages.slice(0, -1).filter((x) => x.content || x.role === 'user').map((x) => ({ role: x.role, content: x.content }));
  if (settings.system.trim()) history.unshift({ role: 'system', content: settings.system });
  const body = {
    messages: history,
    stream: true,
    stream_options: { include_usage: true },
    temperature: settings.temperature,
    top_p: settings.top_p,
    max_tokens: settings.max_tokens,
  };

  const ctl = new AbortController();
  running = { ctl };
  setRunning(true);
  const t0 = performance.now();
  let tThink = null;
  let pending = false;
  const redraw = () => {
    if (pending) return;
    pending = true;
    requestAnimationFrame(() => {
      pending = false;
      updateMessageElement(div, m, running !== null);
      const box = $('#messages');
      if (box.scrollHeight - box.scrollTop - box.clientHeight < 120) box.scrollTop = box.scrollHeight;
    });
  };
  try {
    setStatus('waiting for the model…');
    const res = await fetch('v1/chat/completions', { method: 'POST', headers: headers(), body: JSON.stringify(body), signal: ctl.signal });
    if (!res.ok) {
      let msg = `HTTP ${res.status}`;
      try {
        msg = (await res.json()).error?.message ?? msg;
      } catch {}
      if (res.status === 401) msg += ' (set the API key in Settings)';
      throw new Error(msg);
    }
    setStatus('generating…');
    for await (const chunk of sseEvents(res)) {
      if (chunk.error) throw new Error(chunk.error.message ?? 'server error');
      const d = chunk.choices?.[0]?.delta;
      if (d?.reasoning_content) m.reasoning += d.reasoning_content;
      if (d?.content) {
        if (!m.content && m.reasoning && tThink === null) tThink = performance.now();
        m.content += d.content;
      }
      if (chunk.usage) {
        const u = chunk.usage;
        const tps = chunk.timings?.predicted_per_second;
        m.meta = `${u.completion_tokens} tokens${u.completion_tokens_details?.reasoning_tokens ? ` (${u.completion_tokens_details.reasoning_tokens} reasoning)` : ''}${tps ? `, ${tps.toFixed(1)} tokens/s` : ''}${u.prompt_tokens_details?.cached_tokens ? `, ${u.prompt_tokens_details.cached_tokens} prompt tokens cached` : ''}`;
      }
      redraw();
    }
    setStatus('');
  } catch (e) {
    if (e.name === 'AbortError') {
      m.meta = '(stopped)';
      setStatus('stopped');
    } else {
      m.error = `Error: ${e.message}`;
      setStatus('error');
    }
  } finally {
    if (m.reasoning) m.thinkSeconds = (((tThink ?? performance.now()) - t0) / 1000).toFixed(1);
    running = null;
    setRunning(false);
    updateMessageElement(div, m, false);
    conv.updated = Date.now();
    persist();
  }
}

function setRunning(on) {
  $('#send').disabled = on;
  $('#stop').disabled = !on;
}

async function checkServer() {
  try {
    const h = await fetch('health');
    const j = await h.json();
    if (j.status === 'loading') {
      setStatus('model loading…');
      setTimeout(checkServer, 1000);
      return;
    }
    const r = await fetch('v1/models', { headers: headers() });
    if (r.ok) {
      const id = (await r.json()).data?.[0]?.id;
      if (id) $('#model-name').textContent = id;
      if (!running) setStatus('');
    } else if (r.status === 401) {
      setStatus('this server needs an API key (Settings)');
    }
  } catch {
    setStatus('server unreachable');
  }
}

function init() {
  bindSettings();
  renderList();
  renderMessages();
  $('#new-chat').addEventListener('click', () => {
    if (running) return;
    newConversation();
    renderMessages();
    $('#prompt').focus();
  });
  $('#composer').addEventListener('submit', (e) => {
    e.preventDefault();
    const text = $('#prompt').value.trim();
    if (!text || running) return;
    $('#prompt').value = '';
    send(text);
  });
  $('#prompt').addEventListener('keydown', (e) => {
    // Enter sends, but not while an IME (Chinese input) is composing.
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing && e.keyCode !== 229) {
      e.preventDefault();
      $('#composer').requestSubmit();
    }
  });
  $('#stop').addEventListener('click', () => running?.ctl.abort());
  $('#messages').addEventListener('click', (e) => {
    const b = e.target.closest?.('.copy-code');
    if (!b) return;
    const code = b.closest('.code-block')?.querySelector('code')?.textContent ?? '';
    navigator.clipboard?.writeText(code).then(() => (b.textContent = 'copied'), () => {});
  });
  checkServer();
}

init();
