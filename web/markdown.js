// A small, safe Markdown renderer for model output (no dependencies, no build step).
//
// Safety model: every piece of source text is HTML-escaped *before* any markup is added, and the
// only tags produced are the fixed ones below; link targets must be http(s) or mailto. So model
// output can never inject markup or script (the page's Content-Security-Policy is a second fence).
//
// Supported: fenced code blocks (``` / ~~~, unclosed fences too, as happens mid-stream), inline code,
// headings, bold, italic, strikethrough, links, bare URLs, bullet and numbered lists, blockquotes,
// tables, horizontal rules, paragraphs (single newlines kept as line breaks).

const ESC = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function escapeHtml(s) {
  return String(s).replace(/[&<>"']/g, (c) => ESC[c]);
}

function safeUrl(raw) {
  const url = raw.trim();
  return /^(https?:\/\/|mailto:)/i.test(url) ? url : null;
}

/** Inline Markdown of one block of text -> HTML. */
export function renderInline(src) {
  // Code spans first: their content is literal. Split keeps the spans at odd indices.
  const parts = String(src).split(/(`+)([^`]|[^`][\s\S]*?[^`])\1(?!`)/);
  let out = '';
  for (let i = 0; i < parts.length; i++) {
    if (i % 3 === 0) out += inlineText(parts[i]);
    else if (i % 3 === 2) out += `<code>${escapeHtml(parts[i].trim() || parts[i])}</code>`;
  }
  return out;
}

function inlineText(text) {
  // Links are swapped for placeholders before escaping, so their URL is checked in raw form and
  // emphasis can still wrap them. NUL never survives from the source, so placeholders are unambiguous.
  const re = /\[([^\]\n]{1,500})\]\(([^)\s]{1,2000})(?:\s+"[^"]*")?\)|(https?:\/\/[^\s<>()]{1,2000}[^\s<>().,;:!?'"])/g;
  const links = [];
  const marked = text.replace(/\u0000/g, '').replace(re, (whole, label, href, bare) => {
    const url = safeUrl(href ?? bare);
    const inner = label !== undefined ? emphasis(escapeHtml(label)) : escapeHtml(bare);
    links.push(url ? `<a href="${escapeHtml(url)}" target="_blank" rel="noopener noreferrer nofollow">${inner}</a>` : escapeHtml(whole));
    return `\u0000${links.length - 1}\u0000`;
  });
  return emphasis(escapeHtml(marked)).replace(/\u0000(\d+)\u0000/g, (_, n) => links[Number(n)]);
}

/** Bold / italic / strike on already-escaped text (the markers are not escaped characters). */
function emphasis(s) {
  return s
    .replace(/\*\*(?=\S)([\s\S]*?\S)\*\*/g, '<strong>$1</strong>')
    .replace(/__(?=\S)([\s\S]*?\S)__/g, '<strong>$1</strong>')
    .replace(/~~(?=\S)([\s\S]*?\S)~~/g, '<del>$1</del>')
    .replace(/(^|[^*\w])\*(?=\S)([^*\n]*?\S)\*(?!\*)/g, '$1<em>$2</em>')
    .replace(/(^|[^_\w])_(?=\S)([^_\n]*?\S)_(?![_\w])/g, '$1<em>$2</em>');
}

const FENCE = /^ {0,3}(`{3,}|~{3,})\s*([\w+#.-]*)[^\n]*$/;
const HEADING = /^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$/;
const HR = /^ {0,3}([-*_])(\s*\1){2,}\s*$/;
const LIST = /^(\s*)([-*+]|\d{1,9}[.)])\s+(.*)$/;
const QUOTE = /^ {0,3}>\s?(.*)$/;
const TABLE_SEP = /^\s*\|?\s*:?-{1,}:?\s*(\|\s*:?-{1,}:?\s*)*\|?\s*$/;

function splitRow(line) {
  let s = line.trim();
  if (s.startsWith('|')) s = s.slice(1);
  if (s.endsWith('|') && !s.endsWith('\\|')) s = s.slice(0, -1);
  return s.split(/(?<!\\)\|/).map((c) => c.trim().replace(/\\\|/g, '|'));
}

/** Markdown source -> HTML string (safe to assign to innerHTML). */
export function renderMarkdown(src) {
  const lines = String(src ?? '').replace(/\r\n?/g, '\n').split('\n');
  const out = [];
  let para = [];
  const flush = () => {
    if (para.length) out.push(`<p>${para.map(renderInline).join('<br>')}</p>`);
    para = [];
  };
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    let m;
    if ((m = FENCE.exec(line))) {
      flush();
      const fence = m[1];
      const lang = m[2].slice(0, 30);
      const body = [];
      i++;
      while (i < lines.length && !(lines[i].trim().startsWith(fence[0].repeat(fence.length)) && lines[i].trim().replace(/[`~]/g, '') === '')) body.push(lines[i++]);
      const cls = lang ? ` class="language-${escapeHtml(lang)}"` : '';
      out.push(`<div class="code-block"><div class="code-head"><span class="code-lang">${escapeHtml(lang || 'text')}</span><button type="button" class="copy-code">copy</button></div><pre><code${cls}>${escapeHtml(body.join('\n'))}</code></pre></div>`);
      continue;
    }
    if (line.trim() === '') {
      flush();
      continue;
    }
    if ((m = HEADING.exec(line))) {
      flush();
      const n = m[1].length;
      out.push(`<h${n}>${renderInline(m[2])}</h${n}>`);
      continue;
    }
    if (HR.test(line) && !(para.length && /^\s*-+\s*$/.test(line))) {
      flush();
      out.push('<hr>');
      continue;
    }
    if (QUOTE.test(line)) {
      flush();
      const body = [];
      while (i < lines.length && (m = QUOTE.exec(lines[i]))) {
        body.push(m[1]);
        i++;
      }
      i--;
      out.push(`<blockquote>${renderMarkdown(body.join('\n'))}</blockquote>`);
      continue;
    }
    if (line.includes('|') && i + 1 < lines.length && TABLE_SEP.test(lines[i + 1]) && lines[i + 1].includes('-')) {
      flush();
      const head = splitRow(line);
      const rows = [];
      i += 2;
      while (i < lines.length && lines[i].includes('|') && lines[i].trim() !== '') rows.push(splitRow(lines[i++]));
      i--;
      const th = head.map((c) => `<th>${renderInline(c)}</th>`).join('');
      const tb = rows.map((r) => `<tr>${head.map((_, j) => `<td>${renderInline(r[j] ?? '')}</td>`).join('')}</tr>`).join('');
      out.push(`<table><thead><tr>${th}</tr></thead><tbody>${tb}</tbody></table>`);
      continue;
    }
    if ((m = LIST.exec(line))) {
      flush();
      i = renderList(lines, i, out);
      continue;
    }
    para.push(line);
  }
  flush();
  return out.join('\n');
}

/** A list starting at lines[i]; nested lists by indentation. Returns the index of its last line. */
function renderList(lines, i, out) {
  const first = LIST.exec(lines[i]);
  const indent = first[1].length;
  const ordered = /\d/.test(first[2]);
  const start = ordered ? parseInt(first[2], 10) : 1;
  const items = [];
  for (; i < lines.length; i++) {
    const m = LIST.exec(lines[i]);
    if (m && m[1].length === indent && /\d/.test(m[2]) === ordered) {
      items.push([m[3]]);
    } else if (m && m[1].length > indent && items.length) {
      const nested = [];
      i = renderList(lines, i, nested);
      items[items.length - 1].push({ html: nested.join('') });
    } else if (!m && lines[i].trim() !== '' && /^\s+/.test(lines[i]) && items.length && !FENCE.test(lines[i])) {
      items[items.length - 1].push(lines[i].trim());
    } else {
      break;
    }
  }
  const tag = ordered ? 'ol' : 'ul';
  const startAttr = ordered && start !== 1 ? ` start="${start}"` : '';
  const lis = items.map((parts) => {
    const text = parts.filter((p) => typeof p === 'string').map(renderInline).join('<br>');
    const nested = parts.filter((p) => typeof p !== 'string').map((p) => p.html).join('');
    return `<li>${text}${nested}</li>`;
  });
  out.push(`<${tag}${startAttr}>${lis.join('')}</${tag}>`);
  return i - 1;
}
