/**
 * Stop strings over streamed text: a stop string may be split across any number of pushes.
 *
 * Text that could still be the beginning of a stop string is held back (at most the longest stop
 * string minus one UTF-16 unit); everything before it is safe to emit. When several stop strings
 * occur, the one that is completed first in the stream wins (smallest end offset; on equal ends
 * the one starting earliest), so the result does not depend on how the text was chunked. Text from
 * the stop string on is dropped; after a stop every further push emits nothing.
 *
 * Input is expected to be whole characters (the StreamDecoder upstream holds split UTF-8), and the
 * held-back suffix always begins where a stop string begins, so a surrogate pair is never split.
 */
export class StopMatcher {
  private readonly stops: readonly string[];
  private held = '';
  private done = false;

  constructor(stops: readonly string[]) {
    if (!Array.isArray(stops)) throw new Error('StopMatcher: stops must be an array of strings');
    for (const s of stops) {
      if (typeof s !== 'string' || s.length === 0) throw new Error(`StopMatcher: stop strings must be non-empty strings, got ${JSON.stringify(s)}`);
    }
    this.stops = [...new Set(stops)];
  }

  /** True once a stop string was hit. */
  get stopped(): boolean {
    return this.done;
  }

  push(text: string): { emit: string; stopped: boolean; stop?: string } {
    if (this.done) return { emit: '', stopped: true };
    if (this.stops.length === 0) return { emit: text, stopped: false };
    const buf = this.held + text;

    // Earliest-completed stop string in the unemitted text.
    let hitEnd = Infinity;
    let hitStart = Infinity;
    let hit: string | undefined;
    for (const s of this.stops) {
      const at = buf.indexOf(s);
      if (at < 0) continue;
      const end = at + s.length;
      if (end < hitEnd || (end === hitEnd && at < hitStart)) {
        hitEnd = end;
        hitStart = at;
        hit = s;
      }
    }
    if (hit !== undefined) {
      this.done = true;
      this.held = '';
      return { emit: buf.slice(0, hitStart), stopped: true, stop: hit };
    }

    // Hold the longest suffix of buf that is a proper prefix of some stop string.
    let hold = 0;
    for (const s of this.stops) {
      for (let k = Math.min(s.length - 1, buf.length); k > hold; k--) {
        if (buf.endsWith(s.slice(0, k))) {
          hold = k;
          break;
        }
      }
    }
    this.held = buf.slice(buf.length - hold);
    return { emit: buf.slice(0, buf.length - hold), stopped: false };
  }

  /** End of generation: release what was held back (nothing after a stop). */
  flush(): string {
    const out = this.done ? '' : this.held;
    this.held = '';
    return out;
  }
}
