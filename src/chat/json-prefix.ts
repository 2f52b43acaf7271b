// Incremental JSON-prefix checker for streamed tool-call arguments. Characters are fed one at a time; the
// checker says whether the text so far can still be the start of a JSON object, whether it is a complete
// one, and which suffix would complete a valid prefix (used when the model stops mid-arguments), so every
// call's concatenated argument deltas end up as valid JSON text.

type Ctx = 'obj' | 'arr';
type Mode =
  | 'start' // nothing but whitespace yet; the top-level value must be an object
  | 'value' // a value is required (after ':' or ',' in an array)
  | 'valueOrClose' // right after '[': a value or ']'
  | 'key' // a key string is required (after ',' in an object)
  | 'keyOrClose' // right after '{': a key or '}'
  | 'colon'
  | 'after' // after a value: ',' or a closer (or end at top level)
  | 'string'
  | 'escape'
  | 'unicode'
  | 'number'
  | 'literal'
  | 'done'; // top-level value complete: only whitespace may follow

const WS = new Set([' ', '\t', '\n', '\r']);

export class JsonPrefix {
  private stack: Ctx[] = [];
  private mode: Mode = 'start';
  private stringIsKey = false;
  private unicodeLeft = 0;
  private num = '';
  private literal = '';
  private literalPos = 0;
  private bad = false;

  /** False once the text can no longer be a JSON object prefix (the offending char is not consumed). */
  get ok(): boolean {
    return !this.bad;
  }

  /** A complete JSON object has been read (trailing whitespace allowed). */
  get complete(): boolean {
    return !this.bad && this.mode === 'done';
  }

  /** Inside a string value or key (where raw control characters would need escaping). */
  get inString(): boolean {
    return !this.bad && this.mode === 'string';
  }

  /** Feed one character; returns false (and stays failed) when it cannot continue a JSON object. */
  push(ch: string): boolean {
    if (this.bad) return false;
    const ok = this.step(ch);
    if (!ok) this.bad = true;
    return ok;
  }

  private step(ch: string): boolean {
    switch (this.mode) {
      case 'start':
        if (WS.has(ch)) return true;
        if (ch !== '{') return false;
        this.stack.push('obj');
        this.mode = 'keyOrClose';
        return true;
      case 'done':
        return WS.has(ch);
      case 'string':
        if (ch === '"') {
          this.mode = this.stringIsKey ? 'colon' : 'after';
          this.afterValue();
          return true;
        }
        if (ch === '\\') this.mode = 'escape';
        else if (ch.charCodeAt(0) < 0x20) return false; // raw control chars are invalid in JSON strings
        return true;
      case 'escape':
        if (ch === 'u') {
          this.mode = 'unicode';
          this.unicodeLeft = 4;
          return true;
        }
        if ('"\\/bfnrt'.includes(ch)) {
          this.mode = 'string';
          return true;
        }
        return false;
      case 'unicode':
        if (!/[0-9a-fA-F]/.test(ch)) return false;
        if (--this.unicodeLeft === 0) this.mode = 'string';
        return true;
      case 'number': {
        const next = this.num + ch;
        if (NUMBER_PREFIX.test(next)) {
          this.num = next;
          return true;
        }
        if (!NUMBER_FULL.test(this.num)) return false;
        this.mode = 'after';
        this.afterValue();
        return this.step(ch);
      }
      case 'literal':
        if (ch !== this.literal[this.literalPos]) return false;
        if (++this.literalPos === this.literal.length) {
          this.mode = 'after';
          this.afterValue();
        }
        return true;
      case 'colon':
        if (WS.has(ch)) return true;
        if (ch !== ':') return false;
        this.mode = 'value';
        return true;
      case 'key':
      case 'keyOrClose':
        if (WS.has(ch)) return true;
        if (ch === '"') {
          this.mode = 'string';
          this.stringIsKey = true;
          return true;
        }
        if (ch === '}' && this.mode === 'keyOrClose') return this.closeCtx('obj');
        return false;
      case 'value':
      case 'valueOrClose':
        if (WS.has(ch)) return true;
        if (ch === ']' && this.mode === 'valueOrClose') return this.closeCtx('arr');
        return this.beginValue(ch);
      case 'after':
        if (WS.has(ch)) return true;
        if (ch === ',') {
          const top = this.stack[this.stack.length - 1];
          this.mode = top === 'obj' ? 'key' : 'value';
          return true;
        }
        if (ch === '}') return this.closeCtx('obj');
        if (ch === ']') return this.closeCtx('arr');
        return false;
    }
  }

  private beginValue(ch: string): boolean {
    if (ch === '{') {
      this.stack.push('obj');
      this.mode = 'keyOrClose';
      return true;
    }
    if (ch === '[') {
      this.stack.push('arr');
      this.mode = 'valueOrClose';
      return true;
    }
    if (ch === '"') {
      this.mode = 'string';
      this.stringIsKey = false;
      return true;
    }
    if (ch === '-' || (ch >= '0' && ch <= '9')) {
      this.mode = 'number';
      this.num = ch;
      return true;
    }
    for (const lit of ['true', 'false', 'null']) {
      if (ch === lit[0]) {
        this.mode = 'literal';
        this.literal = lit;
        this.literalPos = 1;
        return true;
      }
    }
    return false;
  }

  /** After a finished value (or key string): at depth 0 the document is done. */
  private afterValue(): void {
    if (this.mode === 'after' && this.stack.length === 0) this.mode = 'done';
  }

  private closeCtx(kind: Ctx): boolean {
    if (this.stack[this.stack.length - 1] !== kind) return false;
    this.stack.pop();
    this.mode = this.stack.length === 0 ? 'done' : 'after';
    return true;
  }

  /**
   * Text that turns the accepted prefix into a complete JSON object (e.g. `"}` or `0]}`); '' when complete.
   * Empty input completes to `{}`. Only meaningful for the accepted prefix (chars rejected by push() are not
   * part of it).
   */
  closer(): string {
    let s = '';
    let mode = this.mode;
    switch (mode) {
      case 'start':
        return '{}';
      case 'done':
        return '';
      case 'escape':
        s += '\\"'; // the pending backslash becomes an escaped backslash, then the string closes
        mode = this.stringIsKey ? 'colon' : 'after';
        break;
      case 'unicode':
        s += '0'.repeat(this.unicodeLeft) + '"';
        mode = this.stringIsKey ? 'colon' : 'after';
        break;
      case 'string':
        s += '"';
        mode = this.stringIsKey ? 'colon' : 'after';
        break;
      case 'number':
        if (!NUMBER_FULL.test(this.num)) s += '0';
        mode = 'after';
        break;
      case 'literal':
        s += this.literal.slice(this.literalPos);
        mode = 'after';
        break;
      default:
        break;
    }
    if (mode === 'colon') s += ':null';
    else if (mode === 'value') s += 'null';
    else if (mode === 'key') s += '"":null';
    for (let i = this.stack.length - 1; i >= 0; i--) s += this.stack[i] === 'obj' ? '}' : ']';
    return s;
  }
}

// Prefixes of a JSON number that can still grow into a valid one, and complete numbers.
const NUMBER_PREFIX = /^-?$|^-?(0|[1-9]\d*)$|^-?(0|[1-9]\d*)\.\d*$|^-?(0|[1-9]\d*)(\.\d+)?[eE][+-]?\d*$/;
const NUMBER_FULL = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?$/;
