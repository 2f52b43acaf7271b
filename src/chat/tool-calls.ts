// Streaming parsers for DeepSeek tool-call markup (deepseek-reference.md 10.3, 10.5, 10.6):
//   V3 / R1-0528: <｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>NAME\n```json\n{ARGS}\n```<｜tool▁call▁end｜>…<｜tool▁calls▁end｜>
//   V3.1:         <｜tool▁calls▁begin｜><｜tool▁call▁begin｜>NAME<｜tool▁sep｜>{ARGS}<｜tool▁call▁end｜>…<｜tool▁calls▁end｜>
//   V3.2 DSML:    <｜DSML｜function_calls>\n<｜DSML｜invoke name="NAME">\n<｜DSML｜parameter name="P" string="true|false">V</｜DSML｜parameter>…
//                 </｜DSML｜invoke>\n</｜DSML｜function_calls>
// Input is content text (reasoning already split off). Output: content that is safe to emit now, plus
// OpenAI-style events: 'start' (id + name) once the name is known, 'args' deltas, 'end'.
//
// Guarantees: the tool block's marker text never appears in content for well-formed blocks; each call's
// concatenated args deltas are valid JSON object text (``` fences and a `json` prefix are removed, raw control
// characters inside strings are escaped, a truncated object is completed, e.g. `{"a": "x` + `"}`); a malformed
// block degrades to plain content (its raw text) instead of throwing; no text is lost: argument text that
// cannot be JSON (e.g. junk after the object) is emitted as content after the call ends.
// Whitespace just before a tool block (the "\n\n" the templates put there) is dropped, so content ends cleanly.

import { JsonPrefix } from './json-prefix.js';
import { partialSuffix } from './reasoning.js';

export interface ParsedToolCall {
  id: string;
  name: string;
  /** JSON text. */
  arguments: string;
}

export type ToolCallEvent =
  | { type: 'start'; index: number; id: string; name: string }
  | { type: 'args'; index: number; delta: string }
  | { type: 'end'; index: number };

export type ToolCallFormat = 'v3' | 'v3.1' | 'dsml' | 'auto';

const CALLS_BEGIN = '<｜tool▁calls▁begin｜>';
const CALLS_END = '<｜tool▁calls▁end｜>';
const CALL_BEGIN = '<｜tool▁call▁begin｜>';
const CALL_END = '<｜tool▁call▁end｜>';
const SEP = '<｜tool▁sep｜>';
const D_BLOCK = '<｜DSML｜function_calls>';
const D_BLOCK_END = '</｜DSML｜function_calls>';
const D_INVOKE = '<｜DSML｜invoke';
const D_INVOKE_END = '</｜DSML｜invoke>';
const D_PARAM = '<｜DSML｜parameter';
const D_PARAM_END = '</｜DSML｜parameter>';
const D_INVOKE_RE = /^<｜DSML｜invoke\s+name="([^"\n]*)"\s*>/;
const D_PARAM_RE = /^<｜DSML｜parameter\s+name="([^"\n]*)"(?:\s+string="(true|false)")?\s*>/;

/** Longest name / tag header we wait for before calling the block malformed (bounds held text). */
const MAX_HEADER = 256;

type State = 'content' | 'block' | 'header' | 'name' | 'args' | 'dblock' | 'dinvoke' | 'dparam';

interface OpenCall {
  index: number;
  raw: string; // V3/V3.1: argument text as generated
  bodyStart: number; // -1 until the leading fence / `json` prefix is decided
  fed: number; // chars of the body checked by `json`
  accepted: number; // chars of the body accepted (== fed until the first rejected char)
  dead: boolean; // the body stopped being a JSON prefix at `accepted`
  json: JsonPrefix;
  params: number; // DSML: parameters emitted so far
  param: { name: string; string: 'true' | 'false' | undefined } | null;
  dsml: boolean; // DSML call: arguments are built from parameters and closed with '}'
}

export class ToolCallParser {
  private readonly format: ToolCallFormat;
  private readonly openers: string[];
  private readonly idPrefix: string;
  private readonly rng: () => number;
  private readonly ids = new Set<string>();
  private state: State = 'content';
  private buf = '';
  private pending = ''; // raw text of the block consumed since the last call started (restored on degrade)
  private heldWs = ''; // trailing whitespace of content, dropped if a tool block follows
  private callsInBlock = 0;
  private nextIndex = 0;
  private call: OpenCall | null = null;
  private out = '';
  private events: ToolCallEvent[] = [];
  private readonly done: ParsedToolCall[] = [];
  private current: ParsedToolCall | null = null;

  constructor(format: ToolCallFormat | 'none', opts: { idPrefix?: string; rng?: () => number } = {}) {
    // 'none' (template without a known tool format): still recognise any DeepSeek markup the model emits.
    this.format = format === 'none' ? 'auto' : format;
    if (!['v3', 'v3.1', 'dsml', 'auto'].includes(this.format)) throw new Error(`unknown tool-call format "${String(format)}"`);
    this.openers =
      this.format === 'dsml' ? [D_BLOCK] : this.format === 'auto' ? [CALLS_BEGIN, CALL_BEGIN, D_BLOCK] : [CALLS_BEGIN, CALL_BEGIN];
    this.idPrefix = opts.idPrefix ?? 'call_';
    this.rng = opts.rng ?? Math.random;
  }

  /** Completed calls so far (id, name, full arguments). */
  get calls(): readonly ParsedToolCall[] {
    return this.done;
  }

  push(text: string): { content: string; events: ToolCallEvent[] } {
    this.buf += text;
    this.run(false);
    return this.take();
  }

  flush(): { content: string; events: ToolCallEvent[] } {
    this.run(true);
    this.out += this.heldWs;
    this.heldWs = '';
    return this.take();
  }

  private take(): { content: string; events: ToolCallEvent[] } {
    const r = { content: this.out, events: this.events };
    this.out = '';
    this.events = [];
    return r;
  }

  // ---------------------------------------------------------------------------- state machine ----

  private run(final: boolean): void {
    for (;;) {
      const progressed = this.step(final);
      if (!progressed) return;
    }
  }

  /** One transition; false when waiting for more input (or everything is consumed). */
  private step(final: boolean): boolean {
    const b = this.buf;
    switch (this.state) {
      case 'content': {
        let idx = -1;
        let opener = '';
        for (const o of this.openers) {
          const i = b.indexOf(o);
          if (i >= 0 && (idx < 0 || i < idx)) {
            idx = i;
            opener = o;
          }
        }
        if (idx >= 0) {
          this.emitContent(b.slice(0, idx));
          this.pending = this.heldWs;
          this.heldWs = '';
          this.callsInBlock = 0;
          if (opener === CALL_BEGIN) {
            this.buf = b.slice(idx); // a block without the outer begin marker: 'block' consumes CALL_BEGIN
            this.state = 'block';
          } else {
            this.pending += opener;
            this.buf = b.slice(idx + opener.length);
            this.state = opener === D_BLOCK ? 'dblock' : 'block';
          }
          return true;
        }
        const keep = final ? 0 : Math.max(...this.openers.map((o) => partialSuffix(b, o)));
        this.emitContent(b.slice(0, b.length - keep));
        this.buf = b.slice(b.length - keep);
        return false;
      }
      case 'block': {
        const r = b.trimStart();
        const ws = b.slice(0, b.length - r.length);
        if (r.startsWith(CALL_BEGIN)) {
          this.pending += ws + CALL_BEGIN;
          this.buf = r.slice(CALL_BEGIN.length);
          this.state = 'header';
          return true;
        }
        if (r.startsWith(CALLS_END)) {
          this.endBlock(r.slice(CALLS_END.length));
          return true;
        }
        const maybe = CALL_BEGIN.startsWith(r) || CALLS_END.startsWith(r);
        if (maybe && !final) return false;
        if (maybe && final && this.callsInBlock > 0) {
          this.endBlock(''); // generation stopped before the closing marker: drop the partial marker
          return false;
        }
        return this.degrade();
      }
      case 'header': {
        const idx = b.indexOf(SEP);
        if (idx < 0) {
          const region = b.slice(0, b.length - partialSuffix(b, SEP));
          if (final || region.length > MAX_HEADER || region.includes('\n')) return this.degrade();
          return false;
        }
        const header = b.slice(0, idx);
        if (header.length > MAX_HEADER || header.includes('\n')) return this.degrade();
        this.pending += header + SEP;
        this.buf = b.slice(idx + SEP.length);
        if (header.trim() === 'function') {
          // V3 style: the type, then NAME. Accepted in every format (V3.1 models trained on V3 data emit it).
          this.state = 'name';
          return true;
        }
        const name = header.trim();
        if (!validName(name)) return this.degrade();
        this.startCall(name);
        this.state = 'args';
        return true;
      }
      case 'name': {
        // V3: NAME ends at the newline before the ```json fence (tolerate a missing newline).
        const m = b.search(/[\n`{]/);
        if (m < 0) {
          if (final || b.length > MAX_HEADER) return this.degrade();
          return false;
        }
        const name = b.slice(0, m).trim();
        if (!validName(name)) return this.degrade();
        this.pending += b.slice(0, m);
        this.buf = b.slice(m);
        this.startCall(name);
        this.state = 'args';
        return true;
      }
      case 'args': {
        const e1 = b.indexOf(CALL_END);
        const e2 = b.indexOf(CALLS_END);
        const end = e1 >= 0 && (e2 < 0 || e1 < e2) ? e1 : e2;
        if (end >= 0) {
          this.appendArgs(b.slice(0, end), true);
          if (end === e1) {
            this.buf = b.slice(end + CALL_END.length);
            this.state = 'block';
          } else {
            this.endBlock(b.slice(end + CALLS_END.length));
          }
          return true;
        }
        const keep = final ? 0 : Math.max(partialSuffix(b, CALL_END), partialSuffix(b, CALLS_END));
        this.buf = b.slice(b.length - keep);
        this.appendArgs(b.slice(0, b.length - keep), final);
        if (final) this.state = 'content';
        return false;
      }
      case 'dblock': {
        const r = b.trimStart();
        const ws = b.slice(0, b.length - r.length);
        const m = D_INVOKE_RE.exec(r);
        if (m) {
          this.pending += ws + m[0];
          this.buf = r.slice(m[0].length);
          if (!validName(m[1].trim())) return this.degrade();
          this.startCall(m[1].trim());
          this.state = 'dinvoke';
          return true;
        }
        if (r.startsWith(D_BLOCK_END)) {
          this.endBlock(r.slice(D_BLOCK_END.length));
          return true;
        }
        const maybe = D_BLOCK_END.startsWith(r) || couldBeTag(r, D_INVOKE);
        if (maybe && !final) return false;
        if (maybe && final && this.callsInBlock > 0 && D_BLOCK_END.startsWith(r)) {
          this.endBlock('');
          return false;
        }
        return this.degrade();
      }
      case 'dinvoke': {
        const r = b.trimStart();
        const ws = b.slice(0, b.length - r.length);
        const m = D_PARAM_RE.exec(r);
        if (m) {
          this.buf = r.slice(m[0].length);
          this.call!.param = { name: m[1], string: m[2] as 'true' | 'false' | undefined };
          this.state = 'dparam';
          return true;
        }
        if (r.startsWith(D_INVOKE_END)) {
          this.buf = r.slice(D_INVOKE_END.length);
          this.endCall();
          this.state = 'dblock';
          return true;
        }
        const maybe = D_INVOKE_END.startsWith(r) || couldBeTag(r, D_PARAM);
        if (maybe && !final) return false;
        // Malformed or truncated invoke: close the call with what it has; leftover text becomes content
        // unless it is only the start of the expected closing tag.
        this.endCall();
        if (final && D_INVOKE_END.startsWith(r)) {
          this.buf = '';
          this.state = 'content';
          return false;
        }
        this.buf = ws + r;
        this.pending = '';
        this.state = 'content';
        return true;
      }
      case 'dparam': {
        const idx = b.indexOf(D_PARAM_END);
        if (idx < 0 && !final) return false;
        const value = idx < 0 ? b : b.slice(0, idx);
        this.buf = idx < 0 ? '' : b.slice(idx + D_PARAM_END.length);
        this.emitParam(value);
        this.state = 'dinvoke';
        return idx >= 0 || final;
      }
    }
  }

  // ---------------------------------------------------------------------------- helpers ----

  /** Content goes out except trailing whitespace, which waits to see whether a tool block follows. */
  private emitContent(s: string): void {
    if (s === '') return;
    const all = this.heldWs + s;
    const trimmed = all.trimEnd();
    this.out += trimmed;
    this.heldWs = all.slice(trimmed.length);
  }

  /** Malformed block: its raw text so far becomes content; parsing resumes in content mode. */
  private degrade(): boolean {
    const raw = this.pending;
    this.pending = '';
    this.state = 'content';
    this.emitContent(raw);
    return true;
  }

  private endBlock(rest: string): void {
    this.buf = rest;
    this.pending = '';
    this.state = 'content';
  }

  private newId(): string {
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
    let s = '';
    for (let i = 0; i < 24; i++) s += alphabet[Math.floor(Math.min(0.999999, Math.max(0, this.rng())) * alphabet.length)];
    let id = this.idPrefix + s;
    for (let n = 1; this.ids.has(id); n++) id = `${this.idPrefix}${s}_${n}`;
    this.ids.add(id);
    return id;
  }

  private startCall(name: string): void {
    const index = this.nextIndex++;
    const id = this.newId();
    this.events.push({ type: 'start', index, id, name });
    this.current = { id, name, arguments: '' };
    this.call = { index, raw: '', bodyStart: -1, fed: 0, accepted: 0, dead: false, json: new JsonPrefix(), params: 0, param: null, dsml: this.state === 'dblock' };
    this.pending = '';
    this.callsInBlock++;
  }

  private argsDelta(delta: string): void {
    if (delta === '' || !this.call) return;
    this.events.push({ type: 'args', index: this.call.index, delta });
    this.current!.arguments += delta;
  }

  /** V3/V3.1 argument text; `final` ends the call (marker seen or input over). */
  private appendArgs(s: string, final: boolean): void {
    const c = this.call!;
    c.raw += s;
    if (c.bodyStart < 0) {
      const lead = leadLength(c.raw, final);
      if (lead === null) return;
      c.bodyStart = lead;
    }
    const body = c.raw.slice(c.bodyStart);
    // Trailing whitespace and backticks may be the closing ``` fence: hold them (strip them at the end).
    let end = body.length;
    while (end > c.fed && /[\s`]/.test(body[end - 1])) end--;
    let delta = '';
    for (; c.fed < end; c.fed++) {
      if (c.dead) continue;
      const ch = body[c.fed];
      if (ch.charCodeAt(0) < 0x20 && c.json.inString) {
        // A raw control char inside a JSON string is invalid JSON: send its escape sequence instead.
        const esc = escapeControl(ch);
        for (const x of esc) c.json.push(x);
        delta += esc;
        c.accepted = c.fed + 1;
      } else if (c.json.push(ch)) {
        delta += ch;
        c.accepted = c.fed + 1;
      } else {
        c.dead = true;
      }
    }
    this.argsDelta(delta);
    if (!final) return;
    const closer = c.json.closer();
    this.argsDelta(closer);
    const rest = body.slice(c.accepted, end);
    this.endCall();
    if (rest.trim() !== '') this.emitContent(rest);
  }

  private emitParam(value: string): void {
    const c = this.call!;
    const p = c.param!;
    c.param = null;
    let json: string;
    if (p.string === 'true') {
      json = JSON.stringify(value);
    } else {
      try {
        json = JSON.stringify(JSON.parse(value.trim()));
      } catch {
        json = JSON.stringify(value); // string="false" but not JSON (or no attribute): keep the text as a string
      }
    }
    this.argsDelta((c.params === 0 ? '{' : ',') + JSON.stringify(p.name) + ':' + json);
    c.params++;
  }

  private endCall(): void {
    const c = this.call;
    if (!c) return;
    if (c.dsml) {
      this.argsDelta(c.params === 0 ? '{}' : '}');
    }
    this.events.push({ type: 'end', index: c.index });
    this.done.push(this.current!);
    this.current = null;
    this.call = null;
    this.pending = '';
  }
}

/** Name of a function: non-empty, bounded, no markup or whitespace inside. */
function validName(name: string): boolean {
  return name.length > 0 && name.length <= MAX_HEADER && !/[\s<>{}"`]/.test(name);
}

/** `r` is a prefix of `tag` or starts with it but its header is not complete yet (no '>' so far). */
function couldBeTag(r: string, tag: string): boolean {
  if (tag.startsWith(r)) return true;
  return r.startsWith(tag) && !r.includes('>') && r.length <= tag.length + MAX_HEADER;
}

/**
 * Length of the prefix before the JSON body: whitespace/backticks (a ``` fence), an optional `json` language
 * tag, whitespace. null while undecided (e.g. the text so far is "``" or "\n```js").
 */
function leadLength(raw: string, final: boolean): number | null {
  let i = 0;
  while (i < raw.length && /[\s`]/.test(raw[i])) i++;
  if (i === raw.length) return final ? i : null;
  const rest = raw.slice(i, i + 4).toLowerCase();
  if (rest === 'json') i += 4;
  else if ('json'.startsWith(rest) && !final) return null;
  while (i < raw.length && /\s/.test(raw[i])) i++;
  if (i === raw.length && !final) return null;
  return i;
}

function escapeControl(ch: string): string {
  const map: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t', '\b': '\\b', '\f': '\\f' };
  return map[ch] ?? '\\u' + ch.charCodeAt(0).toString(16).padStart(4, '0');
}
